"""
Maintenance mode as the pillar says (``webstack:nginx:maintenance:enabled``),
without undoing an operator's ``maintenance.on``.

.. code-block:: yaml

    nginx-maintenance-mode-is-as-the-pillar-says:
      maintenance.as_pillar_says:
        - enabled: true
"""

__virtualname__ = "maintenance"


def __virtual__():
    if "maintenance.status" not in __salt__:
        return (
            False,
            "maintenance state: the maintenance execution module (_modules/maintenance.py) is not loaded",
        )
    return __virtualname__


def as_pillar_says(name, enabled):
    """
    enabled true: the site is in maintenance (already on by a command: left
    as it is). enabled false: maintenance the pillar turned on ends; one a
    command turned on stays until ``maintenance.off``.
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    now = __salt__["maintenance.status"]()
    by = now.get("by")
    if enabled and now["maintenance"]:
        ret["comment"] = f"The site is in maintenance (on by {by})."
        return ret
    if not enabled and by != "pillar":
        ret["comment"] = (
            "The site is in maintenance, on by a command: it stays until `maintenance.off`."
            if now["maintenance"]
            else "The site is not in maintenance."
        )
        return ret
    verb = "on" if enabled else "off"
    ret["changes"] = {"maintenance": {"old": not enabled, "new": enabled}}
    if __opts__["test"]:
        ret.update(result=None, comment=f"Maintenance would be turned {verb} (no reload).")
        return ret
    __salt__[f"maintenance.{verb}"](by="pillar")
    ret["comment"] = f"Maintenance turned {verb} (no reload)."
    return ret
