"""The Asterisk files the lab owns (directories, modules, RTP); homepbx's renderer writes the rest."""

from __future__ import annotations

HEADER = "; managed by homepbx lab: rewritten at every `lab up`\n"

# What homepbx drives. autoload=no keeps out the modules that open ports on every address
# (chan_iax2, chan_unistim, res_http...) or spam errors in a chroot with no config for them.
MODULES = (
    # core services
    "res_sorcery_config.so", "res_sorcery_memory.so", "res_sorcery_astdb.so",
    "res_timing_timerfd.so", "res_crypto.so", "res_srtp.so", "res_rtp_asterisk.so",
    "res_musiconhold.so", "res_clioriginate.so", "res_clialiases.so", "res_convert.so",
    "res_limit.so", "res_manager_devicestate.so", "res_manager_presencestate.so",
    "res_mutestream.so", "res_security_log.so", "res_format_attr_opus.so",
    # PJSIP
    "res_pjproject.so", "res_pjsip.so", "res_pjsip_session.so", "chan_pjsip.so",
    "res_pjsip_authenticator_digest.so", "res_pjsip_outbound_authenticator_digest.so",
    "res_pjsip_endpoint_identifier_user.so", "res_pjsip_endpoint_identifier_ip.so",
    "res_pjsip_registrar.so", "res_pjsip_acl.so", "res_pjsip_nat.so", "res_pjsip_sdp_rtp.so",
    "res_pjsip_caller_id.so", "res_pjsip_dtmf_info.so", "res_pjsip_empty_info.so",
    "res_pjsip_rfc3326.so", "res_pjsip_diversion.so", "res_pjsip_refer.so",
    "res_pjsip_pubsub.so", "res_pjsip_outbound_publish.so", "res_pjsip_outbound_registration.so", "res_pjsip_exten_state.so", "res_pjsip_dialog_info_body_generator.so",
    "res_pjsip_pidf_body_generator.so", "res_pjsip_xpidf_body_generator.so",
    "res_pjsip_mwi.so", "res_pjsip_mwi_body_generator.so", "res_pjsip_notify.so",
    "res_pjsip_logger.so", "res_pjsip_path.so", "res_pjsip_header_funcs.so",
    "res_pjsip_one_touch_record_info.so", "res_pjsip_config_wizard.so", "res_pjsip_messaging.so",
    "func_pjsip_endpoint.so", "func_pjsip_aor.so", "func_pjsip_contact.so",
    # bridging
    "bridge_simple.so", "bridge_native_rtp.so", "bridge_softmix.so", "bridge_holding.so",
    "bridge_builtin_features.so", "bridge_builtin_interval_features.so", "chan_bridge_media.so",
    # codecs and file formats
    "codec_ulaw.so", "codec_alaw.so", "codec_a_mu.so", "codec_gsm.so", "codec_g722.so",
    "codec_resample.so", "codec_opus_open_source.so",
    "format_wav.so", "format_wav_gsm.so", "format_gsm.so", "format_pcm.so", "format_sln.so",
    "format_g719.so",
    # dialplan and applications
    "pbx_config.so", "app_dial.so", "app_queue.so", "app_chanspy.so", "app_mixmonitor.so",
    "app_playback.so", "app_playtones.so", "app_echo.so", "app_milliwatt.so", "app_senddtmf.so",
    "app_read.so", "app_exec.so", "app_verbose.so", "app_stack.so", "app_originate.so",
    "app_transfer.so", "app_blind_transfer.so", "app_attended_transfer.so", "app_softhangup.so",
    "app_bridgewait.so", "app_record.so", "app_userevent.so", "app_celgenuserevent.so", "app_directed_pickup.so",
    "app_waituntil.so", "app_authenticate.so", "app_dumpchan.so", "app_confbridge.so",
    "func_callerid.so", "func_strings.so", "func_logic.so", "func_global.so", "func_channel.so",
    "func_cut.so", "func_math.so", "func_db.so", "func_timeout.so", "func_hangupcause.so",
    "func_uri.so", "func_cdr.so", "func_groupcount.so", "func_periodic_hook.so",
    "func_sprintf.so", "func_rand.so", "func_base64.so", "func_md5.so", "func_dialplan.so",
    "func_devstate.so", "func_extstate.so", "func_volume.so", "func_uuid.so", "func_export.so",
    # call records
    # (cdr_csv and cdr_manager stay out: homepbx reads cdr_custom/cel_custom files and CEL events)
    "res_cdrel_custom.so", "cdr_custom.so", "cel_custom.so", "cel_manager.so",
)

# Files homepbx does not render but modules above read: copied from the package's samples
# (set aside in /etc/asterisk.dist) when missing, so Asterisk boots without errors.
SAMPLE_FILES = (
    "indications.conf", "ccss.conf", "acl.conf", "udptl.conf", "pjproject.conf",
    "pjsip_wizard.conf", "pjsip_notify.conf", "confbridge.conf", "cli_aliases.conf",
)

DIRECTORIES = {
    "astcachedir": "/var/cache/asterisk",
    "astetcdir": "/etc/asterisk",
    "astvarlibdir": "/var/lib/asterisk",
    "astdbdir": "/var/lib/asterisk",
    "astkeydir": "/var/lib/asterisk",
    "astdatadir": "/usr/share/asterisk",
    "astagidir": "/usr/share/asterisk/agi-bin",
    "astspooldir": "/var/spool/asterisk",
    "astrundir": "/var/run/asterisk",
    "astlogdir": "/var/log/asterisk",
    "astsbindir": "/usr/sbin",
}


def asterisk_conf(module_dir: str) -> str:
    """asterisk.conf for the chroot: the Debian layout, with Asterisk running as root inside it."""
    lines = [HEADER, "[directories]"]
    lines += [f"{key} => {value}" for key, value in {**DIRECTORIES, "astmoddir": module_dir}.items()]
    lines += [
        "",
        "[options]",
        "verbose = 3",
        "systemname = homepbx-lab",
        # keeps RTP flowing while a channel is silent, so recordings and tone windows stay aligned
        "transmit_silence = yes",
        "",
    ]
    return "\n".join(lines)


def modules_conf() -> str:
    """modules.conf: load exactly what homepbx uses."""
    lines = [HEADER, "[modules]", "autoload = no"]
    lines += [f"load = {name}" for name in MODULES]
    return "\n".join(lines) + "\n"


def rtp_conf() -> str:
    """rtp.conf: a fixed port range, so a firewall or a second lab knows what to expect."""
    return f"{HEADER}[general]\nrtpstart = 10000\nrtpend = 20000\nstrictrtp = yes\nicesupport = no\n"


MOH_DIR = "/usr/share/asterisk/moh/homepbx-lab"


def musiconhold_conf() -> str:
    """musiconhold.conf: one class playing a second of silence (Debian ships no music in minbase).

    Silence rather than music: queue callers' hold audio must not blur the tones the lab
    tests listen for.
    """
    return f"{HEADER}[default]\nmode = files\ndirectory = {MOH_DIR}\n"


def silence_wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A mono 16-bit WAV of silence, the lab's hold music."""
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x00" * int(seconds * rate))
    return buffer.getvalue()


def from_sample(text: str) -> str:
    """A package sample file, marked as put there by the lab."""
    return "; managed by homepbx lab: copied from the Debian sample when missing\n" + text
