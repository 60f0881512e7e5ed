"""Org connections in the GUI: the Orgs page, the org selector modal and the connect dialog."""
