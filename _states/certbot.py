"""
Certificates from an ACME CA through certbot (``<component>:tls:acme``).

``certificate_issued`` asks the CA only when the lineage has no valid
certificate for the wanted names, directory and key: re-applying never
orders one again (rate limits); renewals are certbot's timer's. The deploy
hook named in the lineage writes the files the server reads and reloads it,
after ``certonly`` here and after each ``renew`` of the timer.
"""

import datetime
import re

CLEAN_TAIL = 600  # characters of certbot's own explanation kept in a failure comment

# certbot's lines that say nothing about this failure.
_NOISE = (
    "Saving debug log",
    "Ask for help",
    "See the logfile",
    "Requesting a certificate",
    "Renewing an existing certificate",
    "Some challenges have failed",
    "Account registered",
    "Hint:",
)


def __virtual__():
    if "certbot.lineage" not in __salt__:
        return False, "certbot state: the certbot execution module did not load"
    return True


def _summary(current):
    if not current:
        return None
    return {k: current[k] for k in ("names", "serial", "issuer", "not_after")}


def _reasons(current, names, server, key):
    """Why the lineage's certificate is not the one wanted (empty: it is)."""
    if current is None:
        return ["there is none yet"]
    reasons = []
    if sorted(current["names"]) != sorted(names):
        reasons.append(f"it is for {', '.join(current['names'])}")
    if current["server"] != server:
        reasons.append(f"it came from {current['server']}")
    if current["key"] != key:
        reasons.append(f"its key is {current['key']}, not {key}")
    if datetime.datetime.fromisoformat(current["not_after"]) <= datetime.datetime.now(datetime.UTC):
        reasons.append(f"it expired on {current['not_after']}")
    return reasons


def _explain(res):
    """certbot's own words for a failure, without its boilerplate."""
    lines = [" ".join(line.split()) for line in (res["stderr"] + "\n" + res["stdout"]).splitlines()]
    kept = [line for line in lines if line and not line.startswith(_NOISE) and set(line) != {"-", " "}]
    text = " ".join(dict.fromkeys(kept)) or f"certbot exited with {res['retcode']}"
    # Python's reprs of the objects in a connection error say nothing to an operator.
    text = re.sub(r"<[\w.]+ object at 0x[0-9a-f]+>: ", "", text)
    return text if len(text) <= CLEAN_TAIL else "..." + text[-CLEAN_TAIL:]


def certificate_issued(name, domains, server, key, certonly, hook, deploy, env=None):
    """
    The lineage `name` holds a valid certificate from the ACME directory
    `server` for `domains`, with a `key` (ecdsa or rsa-<bits>), and the files
    of `deploy` (``[{"path", "sources"}]``) hold it.

    certonly
        certbot's arguments to get one (the settings' ``tls:acme:certonly``:
        the challenge, and `hook` as its ``--deploy-hook``).
    hook
        The deploy hook, run here (as certbot runs it, with
        ``RENEWED_LINEAGE``) when the lineage is right but the served files
        are not its.
    env
        certbot's environment (``REQUESTS_CA_BUNDLE`` for a private CA).
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    env = dict(env or {})
    current = __salt__["certbot.lineage"](name)
    reasons = _reasons(current, domains, server, key)
    wanted = ", ".join(domains)

    if not reasons:
        if __salt__["certbot.served"](deploy):
            ret["comment"] = (
                f"The certificate for {wanted} from {server} is valid until {current['not_after']};"
                " certbot's timer renews it."
            )
            return ret
        paths = [item["path"] for item in deploy]
        ret["changes"] = {"deployed": paths}
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"The lineage's certificate would be written to {', '.join(paths)}."
            return ret
        res = __salt__["cmd.run_all"](
            [hook], env={**env, "RENEWED_LINEAGE": f"/etc/letsencrypt/live/{name}"}, python_shell=False
        )
        if res["retcode"] != 0 or not __salt__["certbot.served"](deploy):
            ret["changes"] = {}
            ret["result"] = False
            ret["comment"] = f"The deploy hook {hook} failed: {_explain(res)}"
            return ret
        ret["comment"] = f"The lineage's certificate was written to {', '.join(paths)}."
        return ret

    wanted_new = {"names": list(domains), "server": server}
    ret["changes"] = {"certificate": {"old": _summary(current), "new": wanted_new}}
    why = "; ".join(reasons)
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"A certificate for {wanted} would be ordered from {server} ({why})."
        return ret
    # --force-renewal: the lineage is there but not what is wanted (another
    # CA or key would otherwise be "not yet due").
    args = ["certbot", *certonly, *(["--force-renewal"] if current else [])]
    res = __salt__["cmd.run_all"](args, env=env, python_shell=False, output_loglevel="debug")
    new = __salt__["certbot.lineage"](name)
    if res["retcode"] != 0 or _reasons(new, domains, server, key):
        kept = (
            f"the current certificate (serial {current['serial']}, valid until {current['not_after']})"
            if current
            else "the temporary self-signed certificate"
        )
        ret["changes"] = {}
        ret["result"] = False
        ret["comment"] = (
            f"No certificate for {wanted} from {server} ({why}): {_explain(res)}"
            f" The site keeps serving {kept}; the next apply tries again."
        )
        return ret
    if not __salt__["certbot.served"](deploy):
        ret["changes"] = {}
        ret["result"] = False
        ret["comment"] = (
            f"certbot got the certificate, but the deploy hook {hook} did not install it: {_explain(res)}"
        )
        return ret
    ret["changes"]["certificate"]["new"] = _summary(new)
    ret["comment"] = (
        f"certbot got a certificate for {wanted} from {server} ({why}), until {new['not_after']}."
    )
    return ret


def lineage_absent(name, hook):
    """
    No certbot lineage `name`, nor its deploy `hook`: the component no longer
    gets its certificate from ACME, so certbot's timer stops renewing it.
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": f"No certbot lineage {name}."}
    current = __salt__["certbot.lineage"](name)
    hook_there = __salt__["file.file_exists"](hook)
    if current is None and not hook_there:
        return ret
    ret["changes"] = {"removed": [what for what, there in ((name, current), (hook, hook_there)) if there]}
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"Would remove {', '.join(ret['changes']['removed'])}."
        return ret
    if current is not None:
        res = __salt__["cmd.run_all"](
            ["certbot", "delete", "--non-interactive", "--cert-name", name], python_shell=False
        )
        if res["retcode"] != 0:
            ret["changes"] = {}
            ret["result"] = False
            ret["comment"] = f"certbot could not delete {name}: {_explain(res)}"
            return ret
    __salt__["file.remove"](hook)
    ret["comment"] = f"Removed {', '.join(ret['changes']['removed'])}."
    return ret
