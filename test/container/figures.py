"""
The figures the reliability and security tests measure, shown in the test
run's output as they are taken (past pytest's capture), one line each:

    [figure] nginx restart under load: 2 of 212 requests failed (0.3 s)

The README's "Guarantees" table quotes them.
"""

from __future__ import annotations


def report(request, line: str) -> None:
    """Write `line` to the terminal now, whatever the capture settings."""
    config = request.config
    capture = config.pluginmanager.get_plugin("capturemanager")
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    if capture is None or terminal is None:  # e.g. under xdist's workers
        print(f"[figure] {line}")
        return
    with capture.global_and_fixture_disabled():
        terminal.write_line(f"[figure] {line}")
