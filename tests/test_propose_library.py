"""Face-library proposal: the pure parts on synthetic evidence and embeddings (joint role assignment,
thin-evidence refusal, image selection), the stage on synthetic batch folders, and two small workflow
runs (the shared real footage, the demo) with no face library."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from facseq.cluster import ClusterSettings
from facseq.propose_library import (
    Observation,
    ProposalSettings,
    assign_roles,
    default_roles,
    role_evidence,
    select_images,
    yaw_from_landmarks,
)
from facseq.stages.common import BatchItem
from facseq.stages.faces import DETECTION_COLUMNS
from facseq.stages.propose_library import BatchOutputs, propose_face_library
from facseq.tables import read_tsv, write_status, write_tsv

SETTINGS = ProposalSettings()


def obs(role: str, dialogue: str, *clusters: int) -> Observation:
    return Observation(role, dialogue, frozenset(clusters))


# --------------------------------------------------------------------------------- evidence and roles
def test_evidence_counts_each_dialogue_once_and_splits_an_utterance_vote():
    evidence = role_evidence(
        [obs("Ross", "d1", 0), obs("Ross", "d1", 0), obs("Ross", "d2", 0, 1), obs("Rachel", "d3", 1)],
        ["Ross", "Rachel"],
    )
    assert evidence.clusters == [0, 1]
    assert evidence.support.tolist() == [[2, 1], [0, 1]]  # d1 counts once for Ross
    assert evidence.n_dialogues.tolist() == [2, 1] and evidence.n_utterances.tolist() == [3, 1]
    np.testing.assert_allclose(evidence.share, [[(1 + 0.5) / 2, 0.5 / 2], [0.0, 1.0]])
    np.testing.assert_allclose(evidence.specificity, [[0.75, 0.25 - 1.0], [-0.75, 0.75]])


def test_joint_assignment_never_gives_two_roles_one_person():
    # Ross (cluster 0) listens in most of Rachel's (cluster 1) dialogues, more often than she is seen:
    # by her share alone Rachel would be Ross's face; Ross's own utterances explain that face better.
    observations = [obs("Rachel", "d1", 0, 1), obs("Rachel", "d2", 0), obs("Rachel", "d3", 0), obs("Rachel", "d4", 0, 1),
                    obs("Ross", "d5", 0), obs("Ross", "d6", 0), obs("Ross", "d7", 0)]
    evidence = role_evidence(observations, ["Rachel", "Ross"])
    assert evidence.share[0, 0] > evidence.share[0, 1]
    choices = {c.role: c for c in assign_roles(evidence, SETTINGS)}
    assert choices["Rachel"].cluster == 1 and choices["Ross"].cluster == 0
    assert choices["Rachel"].specificity == pytest.approx(0.25) and choices["Rachel"].rival == ""  # Ross never shows her
    assert choices["Ross"].rival == "Rachel" and choices["Ross"].specificity == pytest.approx(0.25)
    assert "possible speaker in 2 of its 4 dialogues" in choices["Rachel"].reason


def test_thin_evidence_gets_no_cluster_and_says_why():
    observations = [obs("Ross", f"d{i}", 0) for i in range(4)] + [obs("Rachel", f"d{i}", 1) for i in range(4)]
    observations += [obs("Joey", "d9", 0)]  # Joey only ever seen with Ross's face, who has more dialogues
    observations += [obs("Monica", "d5", 1, 2, 3, 4, 5)]  # one crowded utterance
    roles = ["Ross", "Rachel", "Joey", "Monica", "Phoebe"]  # Phoebe: never seen
    choices = {c.role: c for c in assign_roles(role_evidence(observations, roles), SETTINGS)}
    assert choices["Ross"].cluster == 0 and choices["Rachel"].cluster == 1
    assert choices["Phoebe"].cluster is None and choices["Phoebe"].reason.startswith("never seen")
    assert choices["Joey"].cluster is None and "possible speaker in 0 of its dialogues" in choices["Joey"].reason
    assert choices["Monica"].cluster is None and "min_share" in choices["Monica"].reason
    strict = {c.role: c for c in assign_roles(role_evidence(observations, roles), ProposalSettings(min_dialogues=2))}
    assert strict["Ross"].cluster == 0 and strict["Monica"].cluster is None and "min_dialogues" in strict["Monica"].reason


def test_a_cluster_other_roles_explain_as_well_is_refused_on_request():
    # the shared footage's pattern: Katie's utterances always show Alex too; Alex also speaks alone
    observations = [obs("Alex", "d0", 0), obs("Alex", "d0", 0, 1), obs("Alex", "d1", 0, 1),
                    obs("Katie", "d0", 0, 1), obs("Katie", "d1", 0, 1)]
    evidence = role_evidence(observations, ["Alex", "Katie"])
    default = {c.role: c for c in assign_roles(evidence, SETTINGS)}
    assert default["Alex"].cluster == 0 and default["Katie"].cluster == 1  # by elimination
    assert default["Katie"].specificity == pytest.approx(0.0)
    strict = {c.role: c for c in assign_roles(evidence, ProposalSettings(min_specificity=0.1))}
    assert strict["Alex"].cluster == 0 and strict["Katie"].cluster is None
    assert strict["Katie"].reason.startswith("ambiguous") and "Alex" in strict["Katie"].reason


def test_more_roles_than_clusters():
    choices = assign_roles(role_evidence([obs("A", "d0", 0), obs("B", "d1", 0)], ["A", "B"]), SETTINGS)
    assert sorted(c.cluster is None for c in choices) == [False, True]
    refused = next(c for c in choices if c.cluster is None)
    assert "went to another role" in refused.reason


def test_default_roles_are_the_most_frequent_speakers():
    speakers = ["Ross"] * 3 + ["Rachel"] * 3 + ["Joey"] * 2 + ["Gunther"] + ["", ""]
    assert default_roles(speakers, 3) == ["Rachel", "Ross", "Joey"]
    assert default_roles(speakers, 10) == ["Rachel", "Ross", "Joey", "Gunther"]


# --------------------------------------------------------------------------------- image selection
def test_selection_one_face_per_track_near_the_centre_across_dialogues():
    # three dialogues; dialogue a has many tracks, each with several faces; one far-off face
    dialogue, track, centrality = [], [], []
    for d, n_tracks in (("a", 5), ("b", 1), ("c", 1)):
        for t in range(n_tracks):
            for f in range(3):
                dialogue.append(d)
                track.append(f"{d}{t}")
                centrality.append(0.99 - 0.01 * f - 0.001 * t)
    dialogue.append("d"), track.append("d0"), centrality.append(0.5)  # another person, clustered by mistake
    n = len(dialogue)
    picks = select_images(dialogue, track, np.array(centrality), np.zeros(n), np.full(n, 200.0), 4, 0.9)
    chosen = [p.index for p in picks]
    assert len({track[i] for i in chosen}) == len(chosen) == 4  # one face per track
    assert {dialogue[i] for i in chosen[:3]} == {"a", "b", "c"}  # every dialogue before a second from one
    assert all(centrality[i] >= 0.9 for i in chosen) and "d" not in {dialogue[i] for i in chosen}
    assert all(centrality[i] == max(c for c, t in zip(centrality, track) if t == track[i]) for i in chosen)
    assert picks[0].why.startswith("most central") and picks[1].why.startswith("new dialogue")
    everything = select_images(dialogue, track, np.array(centrality), np.zeros(n), np.full(n, 200.0), 20, 0.9)
    assert len(everything) == 7  # 7 tracks near the centre, not more


def test_selection_prefers_other_poses_and_sizes_within_a_dialogue():
    # one dialogue: three frontal large faces (most central) and a turned face and a small face
    track = ["t0", "t1", "t2", "t3", "t4"]
    centrality = np.array([0.99, 0.985, 0.98, 0.95, 0.95])
    yaw = np.array([0.0, 0.01, 0.0, 0.6, np.nan])
    size = np.array([300.0, 300.0, 310.0, 300.0, 60.0])
    picks = select_images(["a"] * 5, track, centrality, yaw, size, 3, 0.9)
    assert [p.index for p in picks] == [0, 3, 4] or [p.index for p in picks] == [0, 4, 3]
    assert "pose/size" in picks[1].why


def test_yaw_from_landmarks():
    points = np.zeros((468, 2))
    points[33], points[263] = (100, 100), (200, 100)
    points[1] = (150, 150)
    assert yaw_from_landmarks(points) == pytest.approx(0.0)
    points[1] = (175, 150)
    assert yaw_from_landmarks(points) == pytest.approx(0.25)
    assert np.isnan(yaw_from_landmarks(np.full((468, 2), np.nan)))


# --------------------------------------------------------------------------------- the stage, synthetic
def identity_vectors(rng: np.random.Generator, n: int, dim: int = 128) -> np.ndarray:
    x = rng.normal(size=(n, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def write_utterance(batch: Path, name: str, tracks: list[tuple[np.ndarray, bool]], rng: np.random.Generator) -> None:
    """faces/, embeddings/, evidence/ of one utterance: tracks = (identity vector, possible speaker)."""
    rows, vectors = [], []
    for t, (identity, possible) in enumerate(tracks):
        for f in range(4):
            det = len(rows)
            rows.append({"det": det, "frame": f, "time_s": f / 25, "shot": 0, "track": t, "x1": 10 + 200 * t,
                         "y1": 10, "x2": 110 + 200 * t, "y2": 130 + 10 * f, "probability": 0.99, "landmarks": True,
                         "crop": f"{det:05d}.jpg"})
            noisy = identity + rng.normal(scale=0.02, size=identity.shape)
            vectors.append(noisy / np.linalg.norm(noisy))
            crop = np.full((160, 160, 3), 40 * t + 10 * f, dtype=np.uint8)
            (batch / "faces" / name / "crops").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(batch / "faces" / name / "crops" / rows[-1]["crop"]), crop)
    write_tsv(batch / "faces" / name / "detections.tsv", rows, DETECTION_COLUMNS)
    np.save(batch / "faces" / name / "landmarks.npy", np.full((len(rows), 468, 2), np.nan, dtype=np.float32))
    (batch / "embeddings").mkdir(parents=True, exist_ok=True)
    np.save(batch / "embeddings" / f"{name}.npy", np.array(vectors, dtype=np.float32))
    write_tsv(batch / "evidence" / f"{name}.tsv",
              [{"track": t, "possible_speaker": "yes" if p else "no"} for t, (_, p) in enumerate(tracks)],
              ["track", "possible_speaker"])


def test_stage_writes_a_valid_library_and_refuses_a_role_never_on_screen(tmp_path):
    rng = np.random.default_rng(0)
    ross, rachel, extra = identity_vectors(rng, 3)
    batch = tmp_path / "work" / "dev" / "b0000"
    plan = {  # utterance -> speaker, tracks
        "dia0_utt0": ("Ross", [(ross, True)]),
        "dia0_utt1": ("Rachel", [(rachel, True), (ross, True)]),
        "dia1_utt0": ("Ross", [(ross, True), (rachel, False)]),
        "dia1_utt1": ("Rachel", [(rachel, True)]),
        "dia2_utt0": ("Rachel", [(rachel, True), (extra, True)]),
        "dia2_utt1": ("Ross", [(ross, True)]),
        "dia2_utt2": ("Joey", []),  # Joey's utterances show nobody or failed
        "dia3_utt0": ("Joey", [(extra, True)]),
        "dia3_utt1": ("Joey", []),
        "dia4_utt0": ("Ross", [(ross, False)]),  # nobody passed the rules (no audio): all tracks go on
    }
    status = {}
    for name, (_, tracks) in plan.items():
        write_utterance(batch, name, tracks, rng)
        status[name] = ("pending", "") if tracks else ("no_face", "no face detected")
    status["dia3_utt0"] = ("failed", "embeddings: RuntimeError: out of memory")
    (batch / "embeddings" / "dia2_utt1.npy").unlink()  # one broken utterance: skipped, not fatal
    write_status(batch / "evidence" / "status.tsv", status)
    items = [BatchItem(name, speaker, f"{name}.mp4") for name, (speaker, _) in plan.items()]
    outputs = BatchOutputs("dev", items, batch / "faces", batch / "embeddings", batch / "evidence")
    library, sheets = tmp_path / "proposed", tmp_path / "review"
    (library / "stale").mkdir(parents=True)
    choices = propose_face_library([outputs], ["Ross", "Rachel", "Joey"], library, sheets,
                                   ClusterSettings(min_similarity=0.9), ProposalSettings(min_images=2))
    assert {c.role: c.cluster is not None for c in choices} == {"Ross": True, "Rachel": True, "Joey": False}
    assert sorted(p.name for p in library.iterdir()) == ["Rachel", "Ross", "proposal.tsv"]
    assert sorted(p.name for p in sheets.iterdir()) == ["Joey.png", "Rachel.png", "Ross.png"]
    rows = read_tsv(library / "proposal.tsv")
    joey = [r for r in rows if r["role"] == "Joey"]
    assert len(joey) == 1 and joey[0]["status"] == "no_folder" and joey[0]["why"].startswith("never seen")
    assert "(3 utterances: 1 failed, 2 no_face)" in joey[0]["why"]
    for role, expected in (("Ross", {"dia0_utt0", "dia0_utt1", "dia1_utt0", "dia4_utt0"}),
                           ("Rachel", {"dia0_utt1", "dia1_utt1", "dia2_utt0"})):
        mine = [r for r in rows if r["role"] == role]
        assert {r["utterance"].split("/")[1] for r in mine} == expected  # every track of the person, once
        assert [r["image"] for r in mine] == [f"{role}/{n:02d}.jpg" for n in range(1, len(mine) + 1)]
        for r in mine:
            assert (library / r["image"]).is_file() and r["status"] == "proposed" and r["why"]
            source = batch / "faces" / r["utterance"].split("/")[1] / "crops"
            assert any((library / r["image"]).read_bytes() == p.read_bytes() for p in source.iterdir())
    assert not (library / "stale").exists()  # a rerun starts from an empty folder


# --------------------------------------------------------------------------------- workflow runs
@pytest.fixture(scope="module")
def fixture_runs(tmp_path_factory):
    """Propose on the shared footage with no face library, then run the main workflow with the proposal
    in the same results folder (only the library-dependent jobs run again)."""
    from conftest import config_args, require_shared, run_snakemake

    fixture = require_shared("fixtures", "speaker")
    results = tmp_path_factory.mktemp("propose_fixture") / "results"
    missing = results / "no_library_here"
    run_snakemake("--cores", "2", "propose_face_library", *config_args(fixture, fixture, missing, results))
    proposed = results / "proposed_face_library"
    snapshot = {p.relative_to(proposed): p.read_bytes() for p in proposed.rglob("*.jpg")}
    main = run_snakemake("--cores", "2", *config_args(fixture, fixture, proposed, results))
    return {"fixture": fixture, "results": results, "proposed": proposed, "images": snapshot, "main_log": main.stderr}


def embed_images(paths: list[Path]) -> np.ndarray:
    from facseq.embed import make_embedder

    crops = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]
    return make_embedder("dlib").embed(crops)


@pytest.mark.slow
@pytest.mark.shared
def test_fixture_proposal_is_the_right_people(fixture_runs):
    proposed, truth = fixture_runs["proposed"], fixture_runs["fixture"] / "face_library"
    assert sorted(p.name for p in proposed.iterdir() if p.is_dir()) == ["Alex", "Katie"]
    hand_made = {role: embed_images(sorted((truth / role).glob("*.jpg"))) for role in ("Alex", "Katie")}
    for role in ("Alex", "Katie"):
        images = sorted((proposed / role).glob("*.jpg"))
        assert len(images) >= 3
        vectors = embed_images(images)
        same = (vectors @ hand_made[role].T).max(axis=1)
        other = (vectors @ hand_made[{"Alex": "Katie", "Katie": "Alex"}[role]].T).max(axis=1)
        assert np.all(same >= 0.92) and np.all(other < same - 0.03), (role, same, other)
    rows = read_tsv(proposed / "proposal.tsv")
    assert {r["role"] for r in rows} == {"Alex", "Katie"} and all(r["status"] == "proposed" for r in rows)
    assert len({(r["utterance"], r["track"]) for r in rows}) == len(rows)  # one face per track
    assert (fixture_runs["results"] / "proposed_face_library_review" / "Katie.png").is_file()


@pytest.mark.slow
@pytest.mark.shared
def test_fixture_main_workflow_with_the_proposed_library(fixture_runs):
    from test_workflow_fixture import LIBRARY_JOBS, snapshot

    fixture, results = fixture_runs["fixture"], fixture_runs["results"]
    names = [f"dia{r['Dialogue_ID']}_utt{r['Utterance_ID']}" for r in csv.DictReader(open(fixture / "dev_sent_emo.csv"))]
    decisions, scores = snapshot(results, names, fixture)
    for score in scores:
        assert score.passed, f"{score.utterance}: {score.problem} ({decisions[score.utterance]})"
    for row in csv.DictReader(open(fixture / "ground_truth.csv")):
        if row["expected_status"] == "ok":
            assert decisions[f"dia{row['dialogue_id']}_utt{row['utterance_id']}"]["in_library"] == row["in_face_library"]
    ran = {line.split()[-1].rstrip(":") for line in fixture_runs["main_log"].splitlines()
           if line.startswith(("rule ", "localrule "))}
    assert ran <= LIBRARY_JOBS, f"the per-clip stages of the proposal must be reused: {ran - LIBRARY_JOBS}"


@pytest.mark.slow
def test_demo_proposal_and_a_role_never_on_screen(tmp_path_factory):
    """The demo's two identities get their own faces; `Monica`, who speaks only where no face is on
    screen, gets no folder and the reason."""
    from conftest import config_args, run_snakemake
    from facseq.demo import build_demo

    root = tmp_path_factory.mktemp("propose_demo")
    build_demo(root / "data")
    meld = root / "data" / "meld"
    csv_path = meld / "dev_sent_emo.csv"
    with open(csv_path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns, rows = reader.fieldnames, list(reader)
    for row in rows:  # the gravel clip and the missing/broken clips: no face anywhere
        if (row["Dialogue_ID"], row["Utterance_ID"]) in {("1", "1"), ("2", "0"), ("2", "1"), ("2", "2")}:
            row["Speaker"] = "Monica"
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    results = root / "results"
    args = config_args(meld, meld, root / "absent", results, "[dev]", "roles=[Eileen,Grace,Monica]")
    run_snakemake("--cores", "2", "propose_face_library", *args)
    run_snakemake("--report", str(root / "report.html"), "propose_face_library", *args)
    html = (root / "report.html").read_text(encoding="utf-8")
    assert all(f"{role}.png" in html for role in ("Eileen", "Grace", "Monica")) and "proposal.tsv" in html
    proposed = results / "proposed_face_library"
    assert sorted(p.name for p in proposed.iterdir() if p.is_dir()) == ["Eileen", "Grace"]
    eileen_library = embed_images(sorted((root / "data" / "face_library" / "Eileen").glob("*.jpg")))
    eileen = embed_images(sorted((proposed / "Eileen").glob("*.jpg")))
    grace = embed_images(sorted((proposed / "Grace").glob("*.jpg")))
    assert len(eileen) >= 3 and len(grace) >= 3
    assert (eileen @ eileen_library.T).max(axis=1).min() >= 0.92  # all Eileen
    assert (grace @ eileen_library.T).max(axis=1).max() < 0.92  # none of them Eileen ...
    assert (grace @ grace.T).min() >= 0.92  # ... and all one person
    monica = [r for r in read_tsv(proposed / "proposal.tsv") if r["role"] == "Monica"]
    assert len(monica) == 1 and monica[0]["status"] == "no_folder" and "never seen" in monica[0]["why"]
    assert (results / "proposed_face_library_review" / "Monica.png").is_file()
    log = (results / "logs" / "propose_face_library" / "propose_face_library.log").read_text()
    assert "Monica: no folder: never seen" in log
    shutil.rmtree(root / "data")
