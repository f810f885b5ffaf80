"""The agents' feature codes: each agent logs in to exactly its own queues, nothing else."""

from __future__ import annotations

from homepbx import db
from homepbx.models import Agent, Queue, QueueMember

from .test_render import _contexts, md5, render, url  # noqa: F401 - url is a fixture


def test_login_and_logout_codes_follow_queue_membership(url: str) -> None:  # noqa: F811
    with db.session_scope(url) as s:
        a1, a2, a3 = (Agent(extension=e, display_name=e, md5_cred=md5(e), realm="homepbx") for e in ("1001", "1002", "1003"))
        sales, support = Queue(name="sales", extension="500"), Queue(name="support", extension="501")
        s.add_all([a1, a2, a3, sales, support])
        s.flush()
        s.add_all([QueueMember(queue=sales, agent=a1, penalty=2), QueueMember(queue=support, agent=a1),
                   QueueMember(queue=support, agent=a2)])
    ctx = _contexts(render(url)["extensions.conf"])
    login = ctx["homepbx-agent-login"]
    assert [line for line in login if "AddQueueMember" in line] == [
        "same => n,AddQueueMember(sales,PJSIP/1001,2,,1001,PJSIP/1001)",
        "same => n,AddQueueMember(support,PJSIP/1001,0,,1001,PJSIP/1001)",
        "same => n,AddQueueMember(support,PJSIP/1002,0,,1002,PJSIP/1002)",
    ]
    # 1003 is in no queue: no login extension, so *41 falls through to the "failed" tone.
    assert not any(line.startswith("exten => 1003,") for line in login)
    assert [line for line in ctx["homepbx-agent-logout"] if "RemoveQueueMember" in line] == [
        "same => n,RemoveQueueMember(sales,PJSIP/1001)",
        "same => n,RemoveQueueMember(support,PJSIP/1001)",
        "same => n,RemoveQueueMember(support,PJSIP/1002)",
    ]
    # The member acted on is always the calling endpoint, never dialled digits.
    features = ctx["homepbx-agent-features"]
    assert all("PJSIP/${CHANNEL(endpoint)}" in line for line in features if "QueueMember(" in line)
    assert "include => homepbx-agent-features" in ctx["homepbx-agents"]
    assert not any("include => homepbx-agent" in line for line in ctx["homepbx-inbound"])
