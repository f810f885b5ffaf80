"""CEL CSV lines recorded from the lab's Asterisk 22 (cel_custom homepbx-cel.csv, 2026-12-01).

Two direct calls from 4102 (caller) to agent 4101, each spied on by supervisor 4901:
- BARGE: `homepbx spy barge 4101 --supervisor 4901` (the CLI's Originate: exten `s`, ChanSpy on
  the agent's full channel with `qEuBd`); the spy ends as the caller hangs up;
- CODE: the supervisor dialled `*214101` (listen, `qEd`: mode switch allowed) and pressed 5
  (whisper) a second later: CEL reports it as a DTMF event of the ChanSpy channel. The spied
  call's LINKEDID_END comes before the spy's APP_END.
"""

from __future__ import annotations

BARGE_CALL, BARGE_SPY = "homepbx-lab-1796141701.10", "homepbx-lab-1796141702.12"
CODE_CALL, CODE_SPY = "homepbx-lab-1796141727.26", "homepbx-lab-1796141728.28"
SUPERVISOR, AGENT, CALLER = "4901", "4101", "4102"

# In the order Asterisk wrote them.
LINES: tuple[str, ...] = (
    '"1796141701.357375","CHAN_START","homepbx-lab-1796141701.10","homepbx-lab-1796141701.10","PJSIP/4102-00000006","homepbx-agents","4101","","","","","","","4102","Caller Sup B"',
    '"1796141701.358411","APP_START","homepbx-lab-1796141701.10","homepbx-lab-1796141701.10","PJSIP/4102-00000006","homepbx-agents","4101","Dial","PJSIP/4101,30,t","","","","","4102","Caller Sup B"',
    '"1796141701.360859","CHAN_START","homepbx-lab-1796141701.10","homepbx-lab-1796141701.11","PJSIP/4101-00000007","homepbx-agents","s","","","","","","","4101","Agent Sup A"',
    '"1796141701.368748","ANSWER","homepbx-lab-1796141701.10","homepbx-lab-1796141701.11","PJSIP/4101-00000007","homepbx-agents","4101","AppDial","(Outgoing Line)","","","","","4101","Agent Sup A"',
    '"1796141701.369044","ANSWER","homepbx-lab-1796141701.10","homepbx-lab-1796141701.10","PJSIP/4102-00000006","homepbx-agents","4101","Dial","PJSIP/4101,30,t","","","","","4102","Caller Sup B"',
    '"1796141701.372737","BRIDGE_ENTER","homepbx-lab-1796141701.10","homepbx-lab-1796141701.11","PJSIP/4101-00000007","homepbx-agents","","AppDial","(Outgoing Line)","","","{""bridge_id"":""3c97120c-b675-4711-9dde-1b4edeb4f8c1"",""bridge_technology"":""simple_bridge""}","","4101","Agent Sup A"',
    '"1796141701.373201","BRIDGE_ENTER","homepbx-lab-1796141701.10","homepbx-lab-1796141701.10","PJSIP/4102-00000006","homepbx-agents","4101","Dial","PJSIP/4101,30,t","PJSIP/4101-00000007","","{""bridge_id"":""3c97120c-b675-4711-9dde-1b4edeb4f8c1"",""bridge_technology"":""simple_bridge""}","","4102","Caller Sup B"',
    '"1796141702.381055","CHAN_START","homepbx-lab-1796141702.12","homepbx-lab-1796141702.12","PJSIP/4901-00000008","homepbx-sup-4901","s","","","","","","","4901","Full Supervisor"',
    '"1796141702.383311","ANSWER","homepbx-lab-1796141702.12","homepbx-lab-1796141702.12","PJSIP/4901-00000008","homepbx-sup-4901","s","AppDial2","(Outgoing Line)","","","","","4101","Barge 4101"',
    '"1796141702.383478","APP_START","homepbx-lab-1796141702.12","homepbx-lab-1796141702.12","PJSIP/4901-00000008","homepbx-sup-4901","s","ChanSpy","PJSIP/4101-00000007,qEuBd","","","","","4101","Barge 4101"',
    '"1796141708.487706","BRIDGE_EXIT","homepbx-lab-1796141701.10","homepbx-lab-1796141701.10","PJSIP/4102-00000006","homepbx-agents","4101","Dial","PJSIP/4101,30,t","PJSIP/4101-00000007","","{""bridge_id"":""3c97120c-b675-4711-9dde-1b4edeb4f8c1"",""bridge_technology"":""simple_bridge""}","","4102","Caller Sup B"',
    '"1796141708.488053","BRIDGE_EXIT","homepbx-lab-1796141701.10","homepbx-lab-1796141701.11","PJSIP/4101-00000007","homepbx-agents","","AppDial","(Outgoing Line)","","","{""bridge_id"":""3c97120c-b675-4711-9dde-1b4edeb4f8c1"",""bridge_technology"":""simple_bridge""}","","4101","Agent Sup A"',
    '"1796141708.504311","APP_END","homepbx-lab-1796141701.10","homepbx-lab-1796141701.10","PJSIP/4102-00000006","homepbx-agents","4101","Dial","PJSIP/4101,30,t","","","","","4102","Caller Sup B"',
    '"1796141708.504311","HANGUP","homepbx-lab-1796141701.10","homepbx-lab-1796141701.10","PJSIP/4102-00000006","homepbx-agents","4101","","","","","{""hangupcause"":16,""hangupsource"":""PJSIP/4102-00000006"",""dialstatus"":""ANSWER""}","","4102","Caller Sup B"',
    '"1796141708.504311","CHAN_END","homepbx-lab-1796141701.10","homepbx-lab-1796141701.10","PJSIP/4102-00000006","homepbx-agents","4101","","","","","","","4102","Caller Sup B"',
    '"1796141708.504743","HANGUP","homepbx-lab-1796141701.10","homepbx-lab-1796141701.11","PJSIP/4101-00000007","homepbx-agents","","AppDial","(Outgoing Line)","","","{""hangupcause"":16,""hangupsource"":""PJSIP/4102-00000006"",""dialstatus"":""""}","","4101","Agent Sup A"',
    '"1796141708.504743","CHAN_END","homepbx-lab-1796141701.10","homepbx-lab-1796141701.11","PJSIP/4101-00000007","homepbx-agents","","AppDial","(Outgoing Line)","","","","","4101","Agent Sup A"',
    '"1796141708.504743","LINKEDID_END","homepbx-lab-1796141701.10","homepbx-lab-1796141701.11","PJSIP/4101-00000007","homepbx-agents","","AppDial","(Outgoing Line)","","","","","4101","Agent Sup A"',
    '"1796141708.505192","APP_END","homepbx-lab-1796141702.12","homepbx-lab-1796141702.12","PJSIP/4901-00000008","homepbx-sup-4901","s","ChanSpy","PJSIP/4101-00000007,qEuBd","","","","","4101","Barge 4101"',
    '"1796141708.505808","HANGUP","homepbx-lab-1796141702.12","homepbx-lab-1796141702.12","PJSIP/4901-00000008","homepbx-sup-4901","s","AppDial2","(Outgoing Line)","","","{""hangupcause"":0,""hangupsource"":"""",""dialstatus"":""""}","","4101","Barge 4101"',
    '"1796141708.505808","CHAN_END","homepbx-lab-1796141702.12","homepbx-lab-1796141702.12","PJSIP/4901-00000008","homepbx-sup-4901","s","AppDial2","(Outgoing Line)","","","","","4101","Barge 4101"',
    '"1796141708.505808","LINKEDID_END","homepbx-lab-1796141702.12","homepbx-lab-1796141702.12","PJSIP/4901-00000008","homepbx-sup-4901","s","AppDial2","(Outgoing Line)","","","","","4101","Barge 4101"',
    '"1796141727.111819","CHAN_START","homepbx-lab-1796141727.26","homepbx-lab-1796141727.26","PJSIP/4102-00000010","homepbx-agents","4101","","","","","","","4102","Caller Sup B"',
    '"1796141727.112443","APP_START","homepbx-lab-1796141727.26","homepbx-lab-1796141727.26","PJSIP/4102-00000010","homepbx-agents","4101","Dial","PJSIP/4101,30,t","","","","","4102","Caller Sup B"',
    '"1796141727.112864","CHAN_START","homepbx-lab-1796141727.26","homepbx-lab-1796141727.27","PJSIP/4101-00000011","homepbx-agents","s","","","","","","","4101","Agent Sup A"',
    '"1796141727.114202","ANSWER","homepbx-lab-1796141727.26","homepbx-lab-1796141727.27","PJSIP/4101-00000011","homepbx-agents","4101","AppDial","(Outgoing Line)","","","","","4101","Agent Sup A"',
    '"1796141727.114258","ANSWER","homepbx-lab-1796141727.26","homepbx-lab-1796141727.26","PJSIP/4102-00000010","homepbx-agents","4101","Dial","PJSIP/4101,30,t","","","","","4102","Caller Sup B"',
    '"1796141727.115014","BRIDGE_ENTER","homepbx-lab-1796141727.26","homepbx-lab-1796141727.27","PJSIP/4101-00000011","homepbx-agents","","AppDial","(Outgoing Line)","","","{""bridge_id"":""007fc5b3-d22d-4695-acc4-34e3a2cb407f"",""bridge_technology"":""simple_bridge""}","","4101","Agent Sup A"',
    '"1796141727.115114","BRIDGE_ENTER","homepbx-lab-1796141727.26","homepbx-lab-1796141727.26","PJSIP/4102-00000010","homepbx-agents","4101","Dial","PJSIP/4101,30,t","PJSIP/4101-00000011","","{""bridge_id"":""007fc5b3-d22d-4695-acc4-34e3a2cb407f"",""bridge_technology"":""simple_bridge""}","","4102","Caller Sup B"',
    '"1796141728.117442","CHAN_START","homepbx-lab-1796141728.28","homepbx-lab-1796141728.28","PJSIP/4901-00000012","homepbx-sup-4901","*214101","","","","","","","4901","Full Supervisor"',
    '"1796141728.118325","APP_START","homepbx-lab-1796141728.28","homepbx-lab-1796141728.28","PJSIP/4901-00000012","homepbx-sup-4901","*214101","ChanSpy","PJSIP/4101-,qEd","","","","","4901","Full Supervisor"',
    '"1796141728.118370","ANSWER","homepbx-lab-1796141728.28","homepbx-lab-1796141728.28","PJSIP/4901-00000012","homepbx-sup-4901","*214101","ChanSpy","PJSIP/4101-,qEd","","","","","4901","Full Supervisor"',
    '"1796141729.302223","DTMF","homepbx-lab-1796141728.28","homepbx-lab-1796141728.28","PJSIP/4901-00000012","homepbx-sup-4901","*214101","ChanSpy","PJSIP/4101-,qEd","","Received","{""digit"":""5"",""duration_ms"":180}","","4901","Full Supervisor"',
    '"1796141735.370810","BRIDGE_EXIT","homepbx-lab-1796141727.26","homepbx-lab-1796141727.26","PJSIP/4102-00000010","homepbx-agents","4101","Dial","PJSIP/4101,30,t","PJSIP/4101-00000011","","{""bridge_id"":""007fc5b3-d22d-4695-acc4-34e3a2cb407f"",""bridge_technology"":""simple_bridge""}","","4102","Caller Sup B"',
    '"1796141735.371004","APP_END","homepbx-lab-1796141727.26","homepbx-lab-1796141727.26","PJSIP/4102-00000010","homepbx-agents","4101","Dial","PJSIP/4101,30,t","","","","","4102","Caller Sup B"',
    '"1796141735.371004","HANGUP","homepbx-lab-1796141727.26","homepbx-lab-1796141727.26","PJSIP/4102-00000010","homepbx-agents","4101","","","","","{""hangupcause"":16,""hangupsource"":""PJSIP/4102-00000010"",""dialstatus"":""ANSWER""}","","4102","Caller Sup B"',
    '"1796141735.371004","CHAN_END","homepbx-lab-1796141727.26","homepbx-lab-1796141727.26","PJSIP/4102-00000010","homepbx-agents","4101","","","","","","","4102","Caller Sup B"',
    '"1796141735.371224","BRIDGE_EXIT","homepbx-lab-1796141727.26","homepbx-lab-1796141727.27","PJSIP/4101-00000011","homepbx-agents","","AppDial","(Outgoing Line)","","","{""bridge_id"":""007fc5b3-d22d-4695-acc4-34e3a2cb407f"",""bridge_technology"":""simple_bridge""}","","4101","Agent Sup A"',
    '"1796141735.380678","HANGUP","homepbx-lab-1796141727.26","homepbx-lab-1796141727.27","PJSIP/4101-00000011","homepbx-agents","","AppDial","(Outgoing Line)","","","{""hangupcause"":16,""hangupsource"":""PJSIP/4102-00000010"",""dialstatus"":""""}","","4101","Agent Sup A"',
    '"1796141735.380678","CHAN_END","homepbx-lab-1796141727.26","homepbx-lab-1796141727.27","PJSIP/4101-00000011","homepbx-agents","","AppDial","(Outgoing Line)","","","","","4101","Agent Sup A"',
    '"1796141735.380678","LINKEDID_END","homepbx-lab-1796141727.26","homepbx-lab-1796141727.27","PJSIP/4101-00000011","homepbx-agents","","AppDial","(Outgoing Line)","","","","","4101","Agent Sup A"',
    '"1796141735.380826","APP_END","homepbx-lab-1796141728.28","homepbx-lab-1796141728.28","PJSIP/4901-00000012","homepbx-sup-4901","*214101","ChanSpy","PJSIP/4101-,qEd","","","","","4901","Full Supervisor"',
    '"1796141735.381414","HANGUP","homepbx-lab-1796141728.28","homepbx-lab-1796141728.28","PJSIP/4901-00000012","homepbx-sup-4901","*214101","","","","","{""hangupcause"":16,""hangupsource"":""dialplan/builtin"",""dialstatus"":""""}","","4901","Full Supervisor"',
    '"1796141735.381414","CHAN_END","homepbx-lab-1796141728.28","homepbx-lab-1796141728.28","PJSIP/4901-00000012","homepbx-sup-4901","*214101","","","","","","","4901","Full Supervisor"',
    '"1796141735.381414","LINKEDID_END","homepbx-lab-1796141728.28","homepbx-lab-1796141728.28","PJSIP/4901-00000012","homepbx-sup-4901","*214101","","","","","","","4901","Full Supervisor"',
)
