"""Groups, queues and queue owners in the sandbox org, through the real simple-salesforce client: Group and
QueueSobject are queryable and describable, OwnerId on a queue-enabled object refers to Group and User and
takes a queue that lists the object, and refuses one that does not, as a real org does."""

from __future__ import annotations

import pytest
from helpers import client_for
from simple_salesforce.exceptions import SalesforceMalformedRequest


@pytest.fixture
def target(sandbox_factory):
    server = sandbox_factory({"target": "demo-target"})
    return client_for(server, "target")


def _queue(sf, developer_name: str) -> str:
    return sf.query(f"SELECT Id FROM Group WHERE Type = 'Queue' AND DeveloperName = '{developer_name}'")["records"][0]["Id"]


def test_groups_and_queue_objects_are_queryable(demo_server):
    source, target = client_for(demo_server, "source"), client_for(demo_server, "target")
    queues = source.query("SELECT Id, Name, DeveloperName, Type, Email, DoesSendEmailToMembers FROM Group "
                          "WHERE Type = 'Queue' ORDER BY DeveloperName")["records"]
    assert [(q["DeveloperName"], q["Name"]) for q in queues] == [
        ("Escalations", "Escalations"), ("Project_Intake", "Project Intake"), ("Tier_1_Support", "Tier 1 Support")]
    assert all(q["Id"].startswith("00G") and q["Email"] and q["DoesSendEmailToMembers"] is False for q in queues)
    assert source.query("SELECT DeveloperName FROM Group WHERE Type = 'Regular'")["records"][0]["DeveloperName"] \
        == "Support_Team"
    rows = source.query("SELECT QueueId, Queue.DeveloperName, SobjectType FROM QueueSobject "
                        "ORDER BY SobjectType, Queue.DeveloperName")["records"]
    assert [(r["Queue"]["DeveloperName"], r["SobjectType"]) for r in rows] == [
        ("Escalations", "Case"), ("Tier_1_Support", "Case"), ("Project_Intake", "Project__c")]
    # the target's queue of the same name is another record; it has Escalation_Team, no Escalations
    target_queues = {q["DeveloperName"]: q["Id"] for q in target.query(
        "SELECT Id, DeveloperName FROM Group WHERE Type = 'Queue'")["records"]}
    assert set(target_queues) == {"Tier_1_Support", "Escalation_Team"}
    assert target_queues["Tier_1_Support"] != _queue(source, "Tier_1_Support")
    # cases owned by queues: the polymorphic Owner resolves to the queue's name
    owned = source.query("SELECT Id, OwnerId, Owner.Name FROM Case")["records"]
    by_owner: dict[str, int] = {}
    for case in owned:
        if case["OwnerId"].startswith("00G"):
            by_owner[case["Owner"]["Name"]] = by_owner.get(case["Owner"]["Name"], 0) + 1
    assert set(by_owner) == {"Tier 1 Support", "Escalations"} and all(n >= 10 for n in by_owner.values())


def test_describe_of_group_queue_sobject_and_owner(demo_server):
    sf = client_for(demo_server, "source")
    names = {o["name"] for o in sf.describe()["sobjects"]}
    assert {"Group", "QueueSobject"} <= names
    group = {f["name"]: f for f in sf.Group.describe()["fields"]}
    assert {"Name", "DeveloperName", "Type", "Email", "DoesSendEmailToMembers"} <= set(group)
    assert group["Type"]["restrictedPicklist"] and {"Queue", "Regular"} <= {
        v["value"] for v in group["Type"]["picklistValues"]}
    assert sf.Group.describe()["keyPrefix"] == "00G"
    queue_sobject = {f["name"]: f for f in sf.QueueSobject.describe()["fields"]}
    assert queue_sobject["QueueId"]["referenceTo"] == ["Group"]
    assert queue_sobject["QueueId"]["relationshipName"] == "Queue"
    assert queue_sobject["SobjectType"]["type"] == "picklist"
    # queue-enabled objects (Case, custom objects) may be owned by a queue; Account may not
    for obj in ("Case", "Project__c"):
        owner = next(f for f in getattr(sf, obj).describe()["fields"] if f["name"] == "OwnerId")
        assert owner["referenceTo"] == ["Group", "User"] and owner["polymorphicForeignKey"] is True
    owner = next(f for f in sf.Account.describe()["fields"] if f["name"] == "OwnerId")
    assert owner["referenceTo"] == ["User"]
    users = {f["name"] for f in sf.User.describe()["fields"]}
    assert "FederationIdentifier" in users


def test_owner_id_takes_a_queue_that_lists_the_object(target):
    queue = _queue(target, "Tier_1_Support")
    case = target.Case.create({"Subject": "Printer on fire", "Status": "New", "Origin": "Phone", "OwnerId": queue})
    assert target.Case.get(case["id"])["OwnerId"] == queue
    user = target.query("SELECT Id FROM User WHERE IsActive = true LIMIT 1")["records"][0]["Id"]
    target.Case.update(case["id"], {"OwnerId": user})
    target.Case.update(case["id"], {"OwnerId": queue})
    assert target.Case.get(case["id"])["OwnerId"] == queue


@pytest.mark.parametrize("obj, values", [
    ("Project__c", {"Name": "Rollout"}),     # a queue-enabled object the queue does not list
    ("Account", {"Name": "Acme"}),           # an object no queue may own
])
def test_owner_id_refuses_a_queue_that_does_not_list_the_object(target, obj, values):
    queue = _queue(target, "Tier_1_Support")
    with pytest.raises(SalesforceMalformedRequest) as info:
        getattr(target, obj).create({**values, "OwnerId": queue})
    # what a real org answers (e.g. an Order given a queue that lists only other objects)
    assert info.value.content == [{"errorCode": "FIELD_INTEGRITY_EXCEPTION",
                                   "message": f"Owner ID: id value of incorrect type: {queue}",
                                   "fields": ["OwnerId"]}]


def test_owner_id_refuses_a_regular_group_and_accepts_a_queue_once_it_lists_the_object(target):
    regular = target.query("SELECT Id FROM Group WHERE Type = 'Regular'")["records"][0]["Id"]
    with pytest.raises(SalesforceMalformedRequest) as info:
        target.Case.create({"Subject": "x", "Status": "New", "Origin": "Web", "OwnerId": regular})
    assert info.value.content[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    queue = target.Group.create({"Name": "Project Intake", "DeveloperName": "Project_Intake", "Type": "Queue"})["id"]
    with pytest.raises(SalesforceMalformedRequest):
        target.Project__c.create({"Name": "Rollout", "OwnerId": queue})
    target.QueueSobject.create({"QueueId": queue, "SobjectType": "Project__c"})
    project = target.Project__c.create({"Name": "Rollout", "OwnerId": queue})
    assert target.Project__c.get(project["id"])["OwnerId"] == queue
