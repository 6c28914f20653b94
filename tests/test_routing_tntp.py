"""Reading TNTP networks: the bundled ones, and clear errors for broken files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mobility.errors import DemandError, NetworkError
from mobility.routing import from_tntp, read_flows

TNTP = Path(__file__).resolve().parent.parent / "networks" / "tntp"
SIOUX = TNTP / "SiouxFalls"


@pytest.mark.parametrize(
    ("folder", "zones", "nodes", "links", "trips", "through"),
    [
        ("SiouxFalls", 24, 24, 76, 360_600.0, 24),
        ("Anaheim", 38, 416, 914, 104_694.4, 416 - 38),
        ("Chicago-Sketch", 387, 933, 2950, 1_260_907.44, 933),
    ],
)
def test_bundled_networks(folder, zones, nodes, links, trips, through):
    net = from_tntp(TNTP / folder)
    a = net.arrays
    assert (a.n_zones, a.n_nodes, a.n_links) == (zones, nodes, links)
    assert net.demand.sum() == pytest.approx(trips)
    assert a.through.sum() == through  # zones below <FIRST THRU NODE> are not passed through
    assert (a.capacity > 0).all() and (a.free_flow_time >= 0).all()
    flows = read_flows(next((TNTP / folder).glob("*_flow.tntp")))
    assert len(flows) == links


def test_first_link_and_cost_weights():
    sioux = from_tntp(SIOUX)
    assert (sioux.arrays.tail[0], sioux.arrays.head[0]) == (0, 1)  # "1 2" in the file
    assert sioux.arrays.capacity[0] == pytest.approx(25900.20064)
    assert sioux.coordinates.shape == (24, 2)
    assert (sioux.toll_factor, sioux.distance_factor) == (0.0, 0.0)
    chicago = from_tntp(TNTP / "Chicago-Sketch" / "ChicagoSketch_net.tntp")
    assert (chicago.toll_factor, chicago.distance_factor) == (0.02, 0.04)
    assert list(chicago.links().columns[:2]) == ["from", "to"]


def test_folder_file_and_prefix_all_work():
    by_folder = from_tntp(SIOUX)
    by_prefix = from_tntp(SIOUX / "SiouxFalls")
    assert by_folder.net_path == by_prefix.net_path == SIOUX / "SiouxFalls_net.tntp"
    with pytest.raises(NetworkError, match=r"no \*_net\.tntp files in the folder"):
        from_tntp(TNTP)
    with pytest.raises(NetworkError, match="no TNTP network here"):
        from_tntp(SIOUX / "nothing")


@pytest.fixture
def sioux_copy(tmp_path: Path) -> Path:
    """A writable copy of Sioux Falls, to break."""
    folder = tmp_path / "SiouxFalls"
    shutil.copytree(SIOUX, folder)
    return folder


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_wrong_header(sioux_copy: Path):
    net = sioux_copy / "SiouxFalls_net.tntp"
    edit(net, "<NUMBER OF LINKS> 76", "<NUMBER OF LINKS> 75")
    with pytest.raises(NetworkError) as error:
        from_tntp(sioux_copy)
    message = str(error.value)
    assert "SiouxFalls_net.tntp" in message and "wrong header" in message
    assert "<NUMBER OF LINKS> is 75 but the file has 76 link rows; correct the count" in message

    edit(net, "<NUMBER OF LINKS> 75", "")
    with pytest.raises(NetworkError, match=r"<NUMBER OF LINKS> is missing; add the line"):
        from_tntp(sioux_copy)

    edit(net, "<END OF METADATA>", "")
    with pytest.raises(NetworkError, match=r"no <END OF METADATA> line"):
        from_tntp(sioux_copy)


def test_wrong_trips_header(sioux_copy: Path):
    edit(sioux_copy / "SiouxFalls_trips.tntp", "<NUMBER OF ZONES> 24", "<NUMBER OF ZONES> 23")
    with pytest.raises(DemandError, match=r"SiouxFalls_trips\.tntp: wrong header.*23.*24 zones"):
        from_tntp(sioux_copy)


def test_link_to_a_missing_node(sioux_copy: Path):
    edit(sioux_copy / "SiouxFalls_net.tntp", "\t1\t3\t23403.47319", "\t1\t30\t23403.47319")
    with pytest.raises(NetworkError) as error:
        from_tntp(sioux_copy)
    message = str(error.value)
    assert "SiouxFalls_net.tntp, line 11: field term_node = 30 is not a node (1..24)" in message
    assert "add the node (and raise <NUMBER OF NODES>) or correct the link" in message


def test_negative_capacity(sioux_copy: Path):
    edit(sioux_copy / "SiouxFalls_net.tntp", "\t2\t6\t4958.180928", "\t2\t6\t-4958.180928")
    with pytest.raises(NetworkError) as error:
        from_tntp(sioux_copy)
    message = str(error.value)
    assert "SiouxFalls_net.tntp, line 13: field capacity = -4958.180928" in message
    assert "not a positive capacity; give the link's capacity in veh/h, greater than 0" in message


def test_bad_numbers_and_short_rows(sioux_copy: Path):
    net = sioux_copy / "SiouxFalls_net.tntp"
    edit(net, "\t2\t6\t4958.180928\t5", "\t2\t6\tlots\t5")
    with pytest.raises(NetworkError, match=r"line 13: field capacity reads 'lots', not a number"):
        from_tntp(sioux_copy)
    edit(net, "\t2\t6\tlots\t5\t5\t0.15\t4", "\t2\t6\t4958")
    with pytest.raises(NetworkError, match=r"line 13: 6 fields, a link row needs at least 7"):
        from_tntp(sioux_copy)


def test_demand_from_a_zone_without_outgoing_link(sioux_copy: Path):
    net = sioux_copy / "SiouxFalls_net.tntp"
    lines = net.read_text().splitlines()
    kept = [line for line in lines if not line.startswith("\t24\t")]  # links leaving node 24
    kept = [line.replace("<NUMBER OF LINKS> 76", f"<NUMBER OF LINKS> {76 - 3}") for line in kept]
    net.write_text("\n".join(kept) + "\n")
    with pytest.raises(DemandError) as error:
        from_tntp(sioux_copy)
    message = str(error.value)
    assert "SiouxFalls_trips.tntp, line 167: zone 24 sends 7700 trips" in message
    assert "no outgoing link in the network; add a link leaving its node or remove its trips" in (
        message
    )


def test_bad_trip_entries(sioux_copy: Path):
    trips = sioux_copy / "SiouxFalls_trips.tntp"
    edit(trips, "    2 :    100.0;", "   99 :    100.0;")
    with pytest.raises(DemandError, match=r"line 7: destination zone '99' is not a zone \(1..24\)"):
        from_tntp(sioux_copy)
    edit(trips, "   99 :    100.0;", "    2 :    -5.0;")
    with pytest.raises(DemandError, match=r"line 7: trips '-5.0' to zone 2 is not a number >= 0"):
        from_tntp(sioux_copy)


def test_demand_is_read_where_it_is_written(sioux_copy: Path):
    net = from_tntp(sioux_copy)
    assert net.demand[0, 9] == 1300.0  # Origin 1, "10 : 1300.0"
    assert net.demand[23, 22] == pytest.approx(700.0)
    assert np.trace(net.demand) == 0.0
