"""iSyncSF Desktop: copy Salesforce records between orgs, keep every relationship, undo it."""

__version__ = "0.1.0"
