"""
The `webstack` pillar checked on the master as soon as it has compiled a
minion's pillar (an ext_pillar: etc/salt/master.d/webstack.conf; salt-ssh
uses it too).

A bad one puts one line per problem, each naming its key, in Salt's own
`_errors`: the minion refuses every state run (a highstate or one state)
before it renders or changes anything, and its return is Salt's header line
and these (the master's _output/highstate.py prints them one per line after
the minion's name). Without it, each SLS would fail its own render with the
same problems and a page of template context. (Masterless, salt-call stops at the first render
with the problems alone on stderr: webstack.settings.)
"""


def ext_pillar(minion_id, pillar, *args, **kwargs):
    """{"_errors": [...]} when the `webstack` pillar is bad; nothing for boxes without one."""
    if "webstack" not in pillar:
        return {}
    problems = __salt__["webstack.validate"](pillar, __grains__)
    return {"_errors": problems} if problems else {}
