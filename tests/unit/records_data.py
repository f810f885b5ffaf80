"""The fixed data set shared by the records tests: scripted calls with hand-known figures."""

from __future__ import annotations

from homepbx.asterisk.records.simulate import Pbx, Stream

T0 = 1_767_261_600.0  # 2026-01-01 10:00:00 UTC (11:00 in Paris)


def day_one() -> tuple[Stream, dict[str, str]]:
    """Five calls and some agent state changes on 2026-01-01; returns the stream and linkedids by name."""
    p = Pbx()
    p.member(T0 - 600, "1001", "sales", "login")
    p.member(T0 - 600, "1002", "sales", "login")
    ids = {
        "answered": p.answered(T0, "sales", "0611", "1001", wait=12, ring=4, talk=95, also_rang=("1002",),
                               hold=(10, 20), record="/var/spool/asterisk/monitor/homepbx/a.wav"),
        "abandoned": p.abandoned(T0 + 300, "sales", "0622", wait=30, rang=("1001",)),
        "timeout": p.timed_out(T0 + 600, "sales", "0633", wait=300),
        "transferred": p.transferred(T0 + 1000, "sales", "0644", "1001", "1003", wait=5, talk1=40, ring2=6, talk2=60),
        "agent_hangup": p.answered(T0 + 2000, "sales", "0655", "1002", wait=25, ring=3, talk=200, hangup_by="agent"),
    }
    p.member(T0 + 1200, "1002", "sales", "pause", "lunch")
    p.member(T0 + 1500, "1002", "sales", "unpause")
    p.member(T0 + 3000, "1001", "sales", "logout")
    return p.out.sorted(), ids
