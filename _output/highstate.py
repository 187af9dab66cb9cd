"""
Salt's highstate outputter, as the `salt` command on a master serving this
repository prints state runs (found through module_dirs in
etc/salt/master.d/webstack.conf, ahead of Salt's own), with one difference:
a minion that refused its pillar (_pillar/webstack.py) is its problems, one
line each after its name, instead of Salt's six-line frame around them.

    $ salt worker state.apply
    worker: webstack:rabbitmq:password: is required
    ERROR: Minions returned with non-zero exit code

Every other return is left to Salt's outputter, unchanged.
"""

import salt.loader
import salt.utils.color

# The first item of the list state.* returns when the pillar has _errors.
_REFUSED = "Pillar failed to render with the following messages:"


def _problems(ret):
    """The pillar's problems when `ret` is a refused state run, else None."""
    if isinstance(ret, list) and ret[:1] == [_REFUSED]:
        return ret[1:]
    return None


def _salts_own():
    """Salt's highstate outputter: the loader without our module_dirs."""
    return salt.loader.outputters({**__opts__, "module_dirs": []})["highstate"]


def output(data, **kwargs):
    """One line per problem for each refused minion, then Salt's output for the rest."""
    if not isinstance(data, dict):
        return _salts_own()(data, **kwargs)
    colors = salt.utils.color.get_colors(__opts__.get("color"), __opts__.get("color_theme"))
    lines, rest = [], {}
    for host, ret in data.items():
        problems = _problems(ret)
        if problems is None:
            rest[host] = ret
        else:
            lines += [f"{colors['LIGHT_RED']}{host}: {problem}{colors['ENDC']}" for problem in problems]
    if rest:
        lines.append(_salts_own()(rest, **kwargs))
    return "\n".join(lines)
