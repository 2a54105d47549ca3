"""Reports, realtime and the admin API: the HTTP service users and operators talk to."""
