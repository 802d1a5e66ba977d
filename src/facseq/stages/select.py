"""Stage 5 (rules/select.smk: select_speaker, contact_sheets): cluster, match with the library, write the chosen sequence; one picture per utterance."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from facseq.stages.common import BatchItem, _stage_start, log
from facseq.stages.embeddings import load_library
from facseq.stages.faces import load_detections
from facseq.tables import PENDING, failure_reason, read_tsv, write_tsv

DECISION_COLUMNS = [
    "utterance", "speaker", "in_library", "status", "reason", "n_tracks", "n_possible_speakers", "candidates",
    "n_clusters", "chosen_cluster", "similarity", "n_faces", "decided_by", "speaker_detection", "has_audio", "clip",
]
FACE_COLUMNS = ["crop", "frame", "time_s", "x1", "y1", "x2", "y2", "track", "cluster", "similarity", "probability", "source_crop"]
CLUSTER_COLUMNS = ["cluster", "n_faces", "isolated", "eligible", "speaker_similarity", "best_role", "best_role_similarity", "tracks", "chosen"]


def select_speaker(
    items: list[BatchItem],
    faces_dir: Path,
    audio_dir: Path,
    embeddings_dir: Path,
    evidence_dir: Path,
    library_path: Path,
    out_dir: Path,
    facseq_dir: Path,
    cluster_settings,
    match_settings,
) -> list[dict]:
    """Cluster the possible speakers' faces, match them with the library, and write the chosen sequence:
    `facseq_dir/{utt}/NNNNNN.jpg` + `faces.tsv` (the contract's output, rewritten whole on every run),
    `out_dir/{utt}_clusters.tsv` (every cluster with its similarities) and `out_dir/decisions.tsv`."""
    out_dir, status, media = _stage_start(out_dir, Path(evidence_dir) / "status.tsv", audio_dir)
    facseq_dir = Path(facseq_dir)
    library = load_library(library_path)
    detection_tsv = Path(evidence_dir) / "detection.tsv"
    detection = {r["utterance"]: r["speaker_detection"] for r in read_tsv(detection_tsv)} if detection_tsv.is_file() else {}
    decisions = []
    for item in items:
        utt_out = facseq_dir / item.name
        shutil.rmtree(utt_out, ignore_errors=True)  # a rerun never mixes old and new crops
        utt_out.mkdir(parents=True, exist_ok=True)
        in_library = item.speaker in library
        has_audio = media.get(item.name, {}).get("has_audio", "")
        decision = {"utterance": item.name, "speaker": item.speaker, "in_library": in_library,
                    "clip": item.clip, "has_audio": has_audio, "n_faces": 0,
                    "speaker_detection": detection.get(item.name, "")}
        face_rows: list[dict] = []
        state, reason = status.get(item.name, ("failed", "missing from the previous stage"))
        if state == PENDING:
            try:
                face_rows, extra = _select_one(item, faces_dir, embeddings_dir, evidence_dir, library, in_library,
                                               out_dir, utt_out, cluster_settings, match_settings)
                decision.update(extra)
                state, reason = extra["status"], extra["reason"]
            except Exception as err:  # noqa: BLE001
                log.exception("%s: speaker selection failed", item.name)
                state, reason = "failed", f"selection: {failure_reason(err)}"
                face_rows = []
                shutil.rmtree(utt_out, ignore_errors=True)
                utt_out.mkdir(parents=True, exist_ok=True)
        decision.update(status=state, reason=reason, n_faces=len(face_rows))
        write_tsv(utt_out / "faces.tsv", face_rows, FACE_COLUMNS)
        decisions.append(decision)
    write_tsv(out_dir / "decisions.tsv", decisions, DECISION_COLUMNS)
    return decisions


def _select_one(item, faces_dir, embeddings_dir, evidence_dir, library, in_library, out_dir, utt_out,
                cluster_settings, match_settings):
    from facseq.cluster import cluster_faces
    from facseq.match import choose_cluster, one_face_per_frame, score_clusters

    rows = load_detections(faces_dir, item.name)
    vectors = np.load(Path(embeddings_dir) / f"{item.name}.npy")
    evidence = read_tsv(Path(evidence_dir) / f"{item.name}.tsv")
    possible = {int(e["track"]) for e in evidence if e["possible_speaker"] == "yes"}
    tracked = [r for r in rows if r["track"] >= 0]
    candidates = [r for r in tracked if r["track"] in possible]
    how = "possible speakers"
    if not candidates:  # nobody passed the speaking rules: let the library decide among all tracked faces
        candidates, how = tracked, "all tracks (no track passed the speaking rules)"
    extra = {"n_tracks": len(evidence), "n_possible_speakers": len(possible), "candidates": how}
    embedded = [i for i, r in enumerate(candidates) if np.isfinite(vectors[r["det"]]).all()]
    emb = vectors[[candidates[i]["det"] for i in embedded]]
    clustering = cluster_faces(emb, cluster_settings)
    clusters, emb_sim = score_clusters(emb, clustering.labels, clustering.isolated, library, item.speaker, match_settings)
    track_av = {int(e["track"]): float(e["av_correlation"]) if e.get("av_correlation") else np.nan for e in evidence}
    lip_audio = {}
    for i, label in zip(embedded, clustering.labels):
        value = track_av.get(candidates[i]["track"], np.nan)
        if np.isfinite(value):
            lip_audio[int(label)] = max(lip_audio.get(int(label), -1.0), value)
    decision = choose_cluster(clusters, item.speaker, in_library, match_settings, lip_audio)
    # Faces that were not embedded take their track's majority cluster and median similarity.
    labels, face_sim = spread_over_tracks([r["track"] for r in candidates], embedded, clustering.labels, emb_sim)
    competing = sum(c.eligible for c in clusters)
    decided_by = "face library" if competing > 1 else "speaking evidence (one candidate), checked by the face library"
    if "lips that follow the voice" in decision.reason:
        decided_by = "lip/audio agreement among passer-by clusters"
    extra.update(n_clusters=clustering.n_clusters, chosen_cluster=decision.chosen_cluster,
                 similarity=decision.similarity, status=decision.status, reason=decision.reason, decided_by=decided_by)
    cluster_rows = []
    for c in clusters:
        cluster_rows.append({
            "cluster": c.cluster, "n_faces": c.n_faces, "isolated": c.isolated, "eligible": c.eligible,
            "speaker_similarity": c.speaker_similarity, "best_role": c.best_role,
            "best_role_similarity": c.best_role_similarity,
            "tracks": " ".join(str(t) for t in sorted({candidates[i]["track"] for i in np.flatnonzero(labels == c.cluster)})),
            "chosen": c.cluster == decision.chosen_cluster,
        })
    write_tsv(out_dir / f"{item.name}_clusters.tsv", cluster_rows, CLUSTER_COLUMNS)
    # Which cluster each candidate face fell in: the contact sheet draws from this.
    write_tsv(out_dir / f"{item.name}_faces.tsv",
              [{"det": r["det"], "track": r["track"], "cluster": int(labels[i]), "similarity": float(face_sim[i])}
               for i, r in enumerate(candidates)], ["det", "track", "cluster", "similarity"])
    face_rows = []
    if decision.chosen_cluster is not None:
        members = np.flatnonzero(labels == decision.chosen_cluster)
        # One face per frame; for a leading role the one most like the role, else the surest detection.
        score = face_sim[members] if in_library else np.array([candidates[i]["probability"] for i in members])
        keep = members[one_face_per_frame(np.array([candidates[i]["frame"] for i in members]), score)]
        for n, i in enumerate(keep):
            r = candidates[i]
            crop = f"{n:06d}.jpg"
            shutil.copyfile(Path(faces_dir) / item.name / "crops" / r["crop"], utt_out / crop)
            face_rows.append({"crop": crop, "frame": r["frame"], "time_s": r["time_s"], "x1": r["x1"], "y1": r["y1"],
                              "x2": r["x2"], "y2": r["y2"], "track": r["track"], "cluster": decision.chosen_cluster,
                              "similarity": round(float(face_sim[i]), 4), "probability": r["probability"],
                              "source_crop": r["crop"]})
    return face_rows, extra


def spread_over_tracks(tracks: list[int], embedded: list[int], labels: np.ndarray, sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cluster label and similarity for every face: its own when embedded, else its track's majority
    label and median similarity (-1 / NaN for a track with no embedded face)."""
    tracks = np.asarray(tracks)
    out_labels = np.full(len(tracks), -1, dtype=np.int64)
    out_sims = np.full(len(tracks), np.nan)
    out_labels[embedded] = labels
    out_sims[embedded] = sims
    is_embedded = np.zeros(len(tracks), dtype=bool)
    is_embedded[embedded] = True
    for track in np.unique(tracks):
        own = (tracks == track) & is_embedded
        rest = (tracks == track) & ~is_embedded
        if own.any() and rest.any():
            out_labels[rest] = np.bincount(out_labels[own]).argmax()
            out_sims[rest] = np.median(out_sims[own])
    return out_labels, out_sims


def contact_sheets(items: list[BatchItem], faces_dir: Path, evidence_dir: Path, select_dir: Path, out_dir: Path) -> None:
    """`out_dir/{utt}.png` for every utterance of the batch (a header-only sheet when it never got faces)."""
    from facseq.contact_sheet import render_contact_sheet

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    decisions = {row["utterance"]: row for row in read_tsv(Path(select_dir) / "decisions.tsv")}
    for item in items:
        row = decisions.get(item.name, {})
        lines = [
            f"speaker {item.speaker!r} ({'leading role' if row.get('in_library') == 'yes' else 'passer-by'}): "
            f"status {row.get('status', '?')}",
            f"reason: {row.get('reason', '')}",
            f"tracks {row.get('n_tracks') or 0}, possible speakers {row.get('n_possible_speakers') or 0} "
            f"(clustered: {row.get('candidates') or '-'}), clusters {row.get('n_clusters') or 0}, "
            f"returned faces {row.get('n_faces') or 0}",
            f"possible speakers from: {row.get('speaker_detection') or '-'}; decided by: {row.get('decided_by') or '-'}",
        ]
        clusters_tsv = Path(select_dir) / f"{item.name}_clusters.tsv"
        clusters, faces, evidence = [], {}, []
        if clusters_tsv.is_file():
            clusters = read_tsv(clusters_tsv)
            crops = {r["det"]: r["crop"] for r in read_tsv(Path(faces_dir) / item.name / "detections.tsv")}
            for face in read_tsv(Path(select_dir) / f"{item.name}_faces.tsv"):
                path = Path(faces_dir) / item.name / "crops" / crops[face["det"]]
                faces.setdefault(int(face["cluster"]), []).append(path)
        frame_evidence, n_frames = {}, 0
        if (Path(evidence_dir) / f"{item.name}.tsv").is_file():
            evidence = read_tsv(Path(evidence_dir) / f"{item.name}.tsv")
            for row in read_tsv(Path(evidence_dir) / f"{item.name}_frames.tsv"):
                frame_evidence.setdefault(int(row["track"]), []).append(row)
                n_frames = max(n_frames, int(row["frame"]) + 1)
        render_contact_sheet(f"{item.name}  ({item.clip})", lines, clusters, faces, evidence,
                             out_dir / f"{item.name}.png", frame_evidence, n_frames)
