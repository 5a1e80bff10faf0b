"""The organisation model: who holds which role (API.md tokens) and who authored what (R17)."""

import pytest

from shared.org import Organisation, OrgError


@pytest.fixture(scope="module")
def org(org_document):
    return Organisation.from_document(org_document)


def test_figures_of_the_province(org):
    assert (len(org.units), len(org.subunits), len(org.officers)) == (15, 108, 569)
    assert org.provincial_council.code == "HD-CAT" and len(org.provincial_council.members) == 11
    assert all(len(org.councils[u.council].members) == 7 for u in org.units.values())


@pytest.mark.parametrize(
    ("role", "subject", "holds"),
    [
        ("officer", "CAH-DM-0010", True),
        ("officer", "NO-SUCH", False),
        ("subunit_lead", "CAH-DM-0009", True),
        ("subunit_lead", "CAH-DM-0010", False),
        ("unit_secretary", "CAH-DM-0008", True),
        ("unit_secretary", "CAH-DM-0009", False),
        ("council_member", "CAH-DM-0001", True),
        ("council_member", "CAH-DM-0010", False),
        ("province_secretary", "CAT-0012", True),
        ("province_secretary", "CAH-DM-0008", False),
        ("press", "BBT-CAT", True),
        ("press", "CAT-0012", False),
        ("emperor", "CAT-0012", False),
    ],
)
def test_holds_role(org, role, subject, holds):
    assert org.holds_role(role, subject) is holds


def test_author_unit_and_collectives(org):
    assert org.author_unit({"officer": "CAH-DM-0010"}) == ("CAH-DM", "CAH-DM-D-CSHS")
    assert org.author_unit({"officer": "CAH-DM-0001"}) == ("CAH-DM", None)
    assert org.author_unit({"collective": "CAH-DM-D-CSHS"}) == ("CAH-DM", "CAH-DM-D-CSHS")
    assert org.author_unit({"collective": "CAH-DM"}) == ("CAH-DM", None)
    assert org.author_unit({"collective": "NOPE"}) is None
    # R17: a unit collective includes its council members; a team only its own officers.
    assert "CAH-DM-0001" in org.collective_members("CAH-DM")
    assert "CAH-DM-0001" not in org.collective_members("CAH-DM-D-CSHS")


def test_digest_ignores_key_order(org_document):
    reordered = dict(reversed(list(org_document.items())))
    assert Organisation.digest(reordered) == Organisation.digest(org_document)


def test_malformed_documents_are_refused(org_document):
    with pytest.raises(OrgError):
        Organisation.from_document({**org_document, "format": "other/1"})
    with pytest.raises(OrgError):
        Organisation.from_document({k: v for k, v in org_document.items() if k != "units"})


@pytest.mark.parametrize("bad", ["Công an huyện\x0b Đắk Mil", "Đắk\ufffe Mil", "Đắk Mil\ud800", "Đắk\nMil"])
def test_a_name_that_cannot_be_stored_is_refused_at_loading(org_document, bad):
    """R4a: the organisation's names reach every page, feed and certificate."""
    units = [dict(u) for u in org_document["units"]]
    units[3]["name"] = bad
    doc = {**org_document, "units": units}
    with pytest.raises(OrgError, match=r"units\[3\]\.name"):
        Organisation.loadable(doc)
    Organisation.from_document(doc)  # a document already stored still parses: nothing goes down
    assert Organisation.loadable(org_document).province_name == org_document["province"]["name"]
