"""The FreeSWITCH backend."""
