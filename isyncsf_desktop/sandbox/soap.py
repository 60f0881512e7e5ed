"""SOAP partner login for the sandbox org: ``POST /services/Soap/u/XX.X`` with a ``login`` call.

Each org's API user has a password and a security token (made once per org, printed by
``isyncsf sandbox serve``). The password alone or the password followed by the token logs in, as
from a trusted IP range; the session id is a new access token of that org, good for the REST,
Bulk and Tooling APIs. A wrong username or password answers the SOAP fault ``INVALID_LOGIN``.
"""

from __future__ import annotations

import hmac
import xml.etree.ElementTree as ET
from typing import Any
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response

from .person import has_person_accounts
from .routing import Call, router

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER = "urn:partner.soap.sforce.com"


def _fault(code: str, message: str) -> Response:
    body = (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" '
            f'xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f"<soapenv:Body><soapenv:Fault><faultcode>sf:{code}</faultcode><faultstring>{escape(code)}: "
            f"{escape(message)}</faultstring><detail><sf:LoginFault xsi:type=\"sf:LoginFault\"><sf:exceptionCode>"
            f"{code}</sf:exceptionCode><sf:exceptionMessage>{escape(message)}</sf:exceptionMessage></sf:LoginFault>"
            "</detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>")
    return Response(body, status=500, content_type="text/xml; charset=utf-8")


def _values(text: str) -> dict[str, str]:
    """Local element name -> text of every leaf element in the request envelope."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return {}
    return {el.tag.rsplit("}", 1)[-1]: (el.text or "") for el in root.iter() if len(el) == 0}


@router.route("/services/Soap/u/<version>", ["POST"], auth=False, counted=False, versioned=False)
def partner_login(call: Call) -> Any:
    values = _values(call.request.get_data(as_text=True))
    if "username" not in values or "password" not in values:
        return _fault("INVALID_LOGIN", "Invalid username, password, security token; or user locked out.")
    wanted = values["username"].strip().lower()
    for store in call.app.orgs.values():
        user = store.get("User", store.api_user_id) or {}
        if str(user.get("Username") or "").lower() != wanted:
            continue
        password, security_token = store.login_credentials()
        given = values["password"]
        if not (hmac.compare_digest(given, password) or hmac.compare_digest(given, password + security_token)):
            break
        if not user.get("IsActive", True):
            return _fault("INVALID_LOGIN", "Invalid username, password, security token; or user locked out.")
        return _login_result(call, store, user)
    return _fault("INVALID_LOGIN", "Invalid username, password, security token; or user locked out.")


def _login_result(call: Call, store: Any, user: dict[str, Any]) -> Response:
    session = store.issue_token("access")
    base, version, org15 = call.app.instance_url, call.version, store.org_id[:15]
    org = store.meta("org", {}) or {}
    fields = {
        "metadataServerUrl": f"{base}/services/Soap/m/{version}/{org15}",
        "passwordExpired": "false",
        "sandbox": "true" if org.get("is_sandbox") else "false",
        "serverUrl": f"{base}/services/Soap/u/{version}/{org15}",
        "sessionId": session,
        "userId": store.api_user_id,
    }
    info = {
        "accessibilityMode": "false", "currencySymbol": "$", "orgAttachmentFileSizeLimit": "5242880",
        "orgDefaultCurrencyIsoCode": "USD", "orgDisallowHtmlAttachments": "false", "orgHasPersonAccounts": "true" if has_person_accounts(store) else "false",
        "organizationId": store.org_id, "organizationMultiCurrency": "false",
        "organizationName": str(org.get("name") or ""), "profileId": str(user.get("ProfileId") or ""),
        "roleId": "", "sessionSecondsValid": "7200", "userDefaultCurrencyIsoCode": "",
        "userEmail": str(user.get("Email") or ""), "userFullName": str(user.get("Name") or ""),
        "userId": store.api_user_id, "userLanguage": "en_US", "userLocale": "en_GB",
        "userName": str(user.get("Username") or ""), "userTimeZone": "Europe/London", "userType": "Standard",
        "userUiSkin": "Theme3",
    }
    result = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items())
    user_info = "".join(f"<{k}>{escape(v)}</{k}>" if v else f'<{k} xsi:nil="true"/>' for k, v in info.items())
    body = (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" '
            f'xmlns="{PARTNER}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
            f"<loginResponse><result>{result}<userInfo>{user_info}</userInfo></result></loginResponse>"
            "</soapenv:Body></soapenv:Envelope>")
    return Response(body, status=200, content_type="text/xml; charset=utf-8")
