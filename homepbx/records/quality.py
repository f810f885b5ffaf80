"""Line quality of an agent leg: an estimated MOS from RTCP figures (the E-model, simplified).

The figures come from the PBX (for Asterisk, CHANNEL(rtcp,all) read at the leg's hang-up:
homepbx.asterisk.records.sources.quality_from_rtcp); this module only scores them.
"""

from __future__ import annotations

from .types import LineQuality

# ITU-T G.107 defaults for G.711: no equipment impairment (Ie = 0); packet-loss robustness
# Bpl = 25.1 with packet loss concealment (G.113 Appendix I), which softphones apply to G.711
# (4.3 would be G.711 without PLC). Random loss assumed (BurstR = 1): RTCP gives no burstiness.
R0 = 93.2
IE_G711 = 0.0
BPL_G711_PLC = 25.1
# Mouth-to-ear delay beyond the network's one way: G.711's 20 ms packet plus a jitter buffer
# twice the measured jitter (the usual sizing of an adaptive buffer).
PACKET_MS = 20.0


def r_factor(one_way_ms: float, loss_pct: float, ie: float = IE_G711, bpl: float = BPL_G711_PLC) -> float:
    """The simplified E-model rating R = 93.2 - Id - Ie_eff (ITU-T G.107, Cole & Rosenbluth's form).

    Id = 0.024 d + 0.11 (d - 177.3) H(d - 177.3), d the one-way mouth-to-ear delay in ms;
    Ie_eff = Ie + (95 - Ie) * Ppl / (Ppl + Bpl), Ppl the packet loss in percent (BurstR = 1).
    """
    d = max(one_way_ms, 0.0)
    delay = 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)
    loss = min(max(loss_pct, 0.0), 100.0)
    equipment = ie + (95.0 - ie) * loss / (loss + bpl)
    return R0 - delay - equipment


def mos_from_r(r: float) -> float:
    """G.107's MOS from R: 1 + 0.035 R + 7e-6 R (R - 60) (100 - R); 1 below R = 0, 4.5 above 100."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r)


def mos(quality: LineQuality) -> float:
    """The estimated MOS of a leg: its worse loss direction, half its round trip plus buffering."""
    loss = max(quality.loss_from_pct, quality.loss_to_pct or 0.0)
    one_way = (quality.rtt_ms or 0.0) / 2 + 2 * quality.jitter_ms + PACKET_MS
    return round(mos_from_r(r_factor(one_way, loss)), 2)
