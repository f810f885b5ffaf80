"""The Asterisk 22 backend: AMI client, configuration rendering, live control, record sources, lab."""
