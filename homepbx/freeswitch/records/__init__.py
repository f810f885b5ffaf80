"""Call records on FreeSWITCH: ESL events and mod_json_cdr files in, the neutral engine's inputs out."""
