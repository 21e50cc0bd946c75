"""The LAN: what boards advertise over mDNS, and discovery."""
