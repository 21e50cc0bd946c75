"""Configuration: the inventory, compose stacks, Ansible inventories, paths and defaults."""
