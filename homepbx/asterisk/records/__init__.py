"""Asterisk call-record sources: AMI events, CEL and queue_log files, the collector."""
