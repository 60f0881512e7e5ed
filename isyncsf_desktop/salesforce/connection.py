"""Opening a simple-salesforce client on an org: the one way the app talks to Salesforce."""

from __future__ import annotations

import logging
from pathlib import Path

import requests
from simple_salesforce import Salesforce

logger = logging.getLogger(__name__)

DEFAULT_API_VERSION = "59.0"


def make_session(ca_file: str | Path | None = None) -> requests.Session:
    """A requests session that trusts ``ca_file`` (a sandbox org's CA) when given.

    ``trust_env`` is off so that REQUESTS_CA_BUNDLE or proxy variables in the environment cannot
    silently replace the CA we were told to trust.
    """
    session = requests.Session()
    session.trust_env = False
    if ca_file:
        session.verify = str(ca_file)
    return session


def connect(instance_url: str, access_token: str, *, ca_file: str | Path | None = None,
            version: str = DEFAULT_API_VERSION, session: requests.Session | None = None) -> Salesforce:
    """A client for the org at ``instance_url`` authenticated by ``access_token``."""
    return Salesforce(instance_url=instance_url, session_id=access_token,
                      session=session or make_session(ca_file), version=version)
