"""SSH: connections to boards, pinned host keys, the playbooks run over them."""
