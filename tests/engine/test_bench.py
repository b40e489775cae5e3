"""The planted-difference benchmark: its judge, its suites, its baselines, and a short run end to end."""

import json
from dataclasses import replace

import pytest

from spotdiff.apps.bench.baselines import (METHODS, PairData, PhraseBank, gsclip, negate, no_heldout, spotdiff,
                                    visdiff_embedding)
from spotdiff.apps.bench.judge import Claim, best_rank, first_match, matches, measurement_statements, unmatched_vocabulary
from spotdiff.apps.bench.options import SUITES
from spotdiff.apps.bench.run import BenchConfig, run_benchmark, write_results
from spotdiff.apps.bench.suites import (KINDS, LOCAL_EDITS, LOCAL_IMAGE_SIZE, LOWLEVEL_EDITS, PREVALENCE_SET_SIZES,
                                        PREVALENCES, SET_SIZES, SOURCES, BenchPair, Planted, build_suites,
                                        local_plant, photo_pool, prevalence_level)
from spotdiff.apps.bench.summary import summarise, write_markdown
from spotdiff.apps.cli import main
from spotdiff.errors import InvalidParameterError
from spotdiff.synthetic.edits import EDITS
from spotdiff.progress import run
from spotdiff.analysis.proposers.concept_bank import load_concepts, load_vocabulary

pytestmark = pytest.mark.filterwarnings("error")


def world(attribute, value):
    return Planted("world", attribute, value, f"{value} ({attribute})")


def edit(name):
    return Planted("edit", "edit", name, EDITS[name].description)


@pytest.mark.parametrize("statement, more_in, planted", [
    ("a star shape", "b", world("shape", "star")),
    ("star shapes", "b", world("shape", "star")),
    ("a red object", "b", world("colour", "red")),
    ("a large object", "a", world("size", "small")),          # the complement, said of the other set
    ("many objects", "a", world("count", "fewer")),
    ("an object on the right", "b", world("position", "right")),
    ("stripes", "b", world("background", "stripes")),
    ("a checkerboard pattern", "b", world("background", "checker")),
    ("a slate grey background", "b", world("background_colour", "slate")),
    ("polka dots", "b", world("texture", "dotted")),
    ("small rectangles", "b", edit("rectangles")),
    ("blurrier", "b", edit("blur")),
    ("sharper", "a", edit("blur")),
    ("not blurry", "a", edit("blur")),                         # negation: "blurry, more in b"
    ("less noisy", "a", edit("noise")),
    ("more JPEG-blocky", "b", edit("jpeg")),
    ("warmer (more red than blue)", "b", edit("warm")),
    ("cooler (more blue than red)", "a", edit("warm")),
    ("darker", "a", edit("brighter")),
    ("smaller (fewer megapixels)", "b", edit("downscale")),
    ("blurrier", "b", edit("lowres")),                         # its description: "soft, detail lost"
    ("a watermark", "b", edit("text-watermark")),
    ("a rotated image", "b", edit("rotate")),
])
def test_judge_accepts_claims_that_name_the_planted_value_for_the_right_set(statement, more_in, planted):
    assert matches(statement, more_in, planted)


@pytest.mark.parametrize("statement, more_in, planted", [
    ("a star shape", "a", world("shape", "star")),             # wrong set
    ("a starburst", "b", world("shape", "star")),              # a longer word is not the word
    ("a red background", "b", world("colour", "red")),         # objects are red, not the background
    ("redder", "b", world("colour", "red")),                   # a whole-image measurement, not an object
    ("a red tint", "b", world("colour", "red")),
    ("small rectangles", "b", world("size", "small")),         # no rectangles in the world
    ("small dots", "b", world("size", "small")),               # texture, not size
    ("a small object", "a", world("size", "small")),
    ("a large object", "a", world("colour", "red")),
    ("small squares", "b", edit("rectangles")),
    ("sharper", "b", edit("blur")),
    ("soft lighting", "b", edit("blur")),
    ("less noisy", "b", edit("noise")),
    ("cooler (more blue than red)", "b", edit("warm")),
    ("a bright image", "b", world("position", "right")),
    ("a right angle", "b", world("position", "right")),
    ("an off-center object", "b", world("position", "center")),
    ("stripes", "b", world("background", "gradient")),
    ("a striped background", "b", world("texture", "striped")),
    ("striped objects", "b", world("background", "stripes")),
    ("a single colour", "b", world("count", "fewer")),
    ("noisier", "b", world("background", "noise")),            # measurement: image noise, not a noisy background
    ("darker", "b", edit("vignette")),
])
def test_judge_rejects_claims_that_do_not(statement, more_in, planted):
    assert not matches(statement, more_in, planted)


def test_every_world_value_and_edit_has_words_and_the_concept_bank_can_say_each_planted_value():
    assert unmatched_vocabulary() == []
    vocabulary = [p for _, p in load_concepts()] + sorted(measurement_statements())
    # the local suite's claims come from the region stage, in its own words (see the local judge tests)
    planted = {p for pair in build_suites([s for s in SUITES if s != "local"]) for p in pair.planted}
    unsayable = [p for p in planted if not any(matches(s, p.more_in, p) for s in vocabulary)]
    assert not unsayable, [(p.attribute, p.value) for p in unsayable]


def test_ranks_count_from_one_and_take_the_best_planted_difference():
    claims = [Claim("brighter", "b"), Claim("stars", "b"), Claim("blurrier", "b")]
    assert first_match(claims, world("shape", "star")) == 2
    assert first_match(claims, edit("blur")) == 3
    assert first_match(claims, edit("noise")) is None
    assert best_rank(claims, [edit("blur"), world("shape", "star")]) == 2
    assert best_rank(claims, []) is None


def test_suites_reach_the_issue_minimums_and_cover_every_kind():
    pairs = build_suites()
    by_suite = {}
    for p in pairs:
        by_suite.setdefault(p.suite, []).append(p)
    assert len({p.id for p in pairs}) == len(pairs)
    single = by_suite["single"]
    assert len(single) >= 40 and {p.planted[0].attribute for p in single} == set(KINDS)
    assert [p.planted[0].value for p in by_suite["lowlevel"]] == list(LOWLEVEL_EDITS) == list(EDITS)[:14]
    assert len(by_suite["null"]) >= 40 and all(not p.planted and p.world_pair is None and not p.plants
                                               for p in by_suite["null"])
    assert {p.prevalence for p in by_suite["prevalence"]} == set(PREVALENCES)
    assert {(p.prevalence, p.n_per_set) for p in by_suite["prevalence"]} == {
        (level, n) for level in PREVALENCES for n in PREVALENCE_SET_SIZES}
    assert all(p.level == prevalence_level(p.prevalence, p.n_per_set) for p in by_suite["prevalence"])
    assert {len(p.planted) for p in by_suite["multi"]} == {2, 3}
    assert {p.n_per_set for p in by_suite["sizes"]} == set(SET_SIZES)
    for p in by_suite["prevalence"]:
        assert p.world_pair.truth["prevalence"] == p.prevalence


# --- the local suite -------------------------------------------------------------------------------------------


def local(name, colours=(), size=None):
    return Planted("local", "edit", name, EDITS[name].description, colours=tuple(colours), size=size)


RED_RECTANGLES = local("rectangles", ["red"], size=5.12)  # sides of 4-6 px, as at 128 px


@pytest.mark.parametrize("statement, more_in, planted", [
    ("tiny red rectangles (≈ 5 × 4 px), 2–4 per image", "b", RED_RECTANGLES),
    ("small red squares (≈ 7 × 7 px) near the centre", "b", RED_RECTANGLES),
    ("tiny red rectangles", "b", RED_RECTANGLES),                                # no size said: colour and kind do
    ("tiny red and blue rectangles (≈ 3 × 3 px)", "b", local("rectangles", ["blue", "green"], 5.12)),
    ("no red rectangles", "a", RED_RECTANGLES),                                  # negation: the other set
    ("small black text-like marks (≈ 14 × 6 px) in the bottom-right corner", "b", local("text-stamp", ["black"])),
    ("small black text-like marks (≈ 14 × 6 px) in the bottom-right corner", "b", local("shape-watermark")),
    ("small white logos in the top-left corner", "b", local("shape-watermark")),
    ("tiny white specks (≈ 2 × 2 px)", "b", local("dead-pixels", ["white"])),
    ("tiny black dead pixels (≈ 3 × 2 px) along the edges", "b", local("dead-pixels", ["black"])),
    ("small blurred patches (≈ 16 × 16 px)", "b", local("blurred-patch")),
    ("small green blotches (≈ 9 × 8 px)", "b", local("colour-blotch", ["green"])),
    ("medium-sized yellow patches (≈ 12 × 10 px), 1–2 per image", "b", local("colour-blotch", ["yellow"])),
])
def test_judge_accepts_region_claims_that_name_the_local_edit(statement, more_in, planted):
    assert matches(statement, more_in, planted)


@pytest.mark.parametrize("statement, more_in, planted", [
    ("tiny blue rectangles (≈ 5 × 4 px), 2–4 per image", "b", RED_RECTANGLES),   # wrong colour
    ("tiny red rectangles (≈ 20 × 20 px)", "b", RED_RECTANGLES),                 # wrong size
    ("tiny red rectangles (≈ 2 × 2 px)", "b", RED_RECTANGLES),
    ("tiny red rectangles (≈ 5 × 4 px), 2–4 per image", "a", RED_RECTANGLES),    # wrong set
    ("more colourful", "b", RED_RECTANGLES),
    ("redder", "b", RED_RECTANGLES),
    ("tiny reddish rectangles", "b", RED_RECTANGLES),                            # "red" as a whole word only
    ("small red blotches (≈ 5 × 5 px)", "b", RED_RECTANGLES),                    # the wrong kind
    ("small white logos", "b", local("shape-watermark")),                        # no corner
    ("small red marks in the top-left corner", "b", local("text-stamp", ["red"])),
    ("tiny black specks (≈ 2 × 2 px)", "b", local("dead-pixels", ["white"])),
    ("small blurred patches (≈ 16 × 16 px)", "b", local("colour-blotch", ["green"])),  # patches, but no colour
    ("small green blotches (≈ 9 × 8 px)", "b", local("blurred-patch")),
    ("blurrier", "a", local("blurred-patch")),
])
def test_judge_rejects_region_claims_that_do_not(statement, more_in, planted):
    assert not matches(statement, more_in, planted)


def test_local_suite_plants_every_small_edit_at_every_prevalence_size_and_source():
    pairs = build_suites(["local"])
    planted = [p for p in pairs if p.planted]
    assert len({p.id for p in pairs}) == len(pairs)
    assert {(p.group, p.prevalence, p.n_per_set, p.source) for p in planted} == {
        (name, level, n, source) for name in LOCAL_EDITS for level in PREVALENCES
        for n in PREVALENCE_SET_SIZES for source in SOURCES}
    assert all(p.suite == "local" and p.image_size == LOCAL_IMAGE_SIZE for p in pairs)
    for p in planted:
        (plant, strength), = p.plants
        mark, = p.planted
        assert mark.kind == "local" and mark.value == p.group == plant.split("/")[0] and strength == 0.5
        assert (mark.colours != ()) == (p.group in ("rectangles", "text-stamp", "dead-pixels", "colour-blotch"))
        assert plant == "/".join([p.group, *mark.colours])
        assert (mark.size is not None) == (p.group == "rectangles")
        assert p.level == f"{p.source}: {prevalence_level(p.prevalence, p.n_per_set)}"
    nulls = [p for p in pairs if not p.planted]
    assert len(nulls) >= 10 and all(p.source == "photos" and not p.plants for p in nulls)
    rectangles = {p.planted[0].colours[0] for p in planted if p.group == "rectangles"}
    assert len(rectangles) == 8  # one colour per pair, all of them used
    quick = build_suites(["local"], quick=True)
    assert 1 <= len(quick) <= 2 and {p.n_per_set for p in quick} == {20} and {p.source for p in quick} == set(SOURCES)


def test_local_plants_name_what_the_edit_will_draw():
    plant, planted = local_plant("rectangles", 3)
    assert plant == f"rectangles/{planted.colours[0]}" and 0.03 * 128 <= planted.size <= 0.05 * 128
    assert local_plant("dead-pixels", 0)[1].colours[0] in ("white", "black")
    assert local_plant("blurred-patch", 0) == ("blurred-patch", local("blurred-patch"))
    assert planted.to_json()["colours"] == list(planted.colours) and "size" not in local("blurred-patch").to_json()


def test_a_photo_pair_is_drawn_from_photo_crops_with_its_plant(tmp_path):
    pair = next(p for p in build_suites(["local"], quick=True) if p.source == "photos")
    run(pair.write(tmp_path / "pair", image_size=32))  # a local pair keeps its own size
    truth = json.loads((tmp_path / "pair" / "truth.json").read_text())
    assert truth["complete"] and truth["n_per_set"] == pair.n_per_set and truth["image_size"] == LOCAL_IMAGE_SIZE
    assert truth["source"] == str(tmp_path / f"photo-crops-{LOCAL_IMAGE_SIZE}px-{2 * pair.n_per_set}")
    assert set(truth["sources"].values()) <= {f"crop_{i:04d}.png" for i in range(2 * pair.n_per_set)}
    edited = list(truth["edited"].values())
    assert len(edited) == pair.n_per_set  # 100 %
    assert all(r[0]["info"]["colour"] == pair.planted[0].colours[0] for r in edited)
    null = BenchPair("null-photos", "local", "photos: no difference", "none", (), n_per_set=pair.n_per_set,
                     source="photos", image_size=LOCAL_IMAGE_SIZE)
    run(null.write(tmp_path / "null", image_size=64))  # reuses the crops already cut
    truth = json.loads((tmp_path / "null" / "truth.json").read_text())
    assert truth["edited"] == {} and len(list(tmp_path.glob("photo-crops-*"))) == 1
    with pytest.raises(InvalidParameterError, match="source"):
        replace(null, source="camera")


def test_photo_pairs_drawn_in_parallel_share_one_complete_pool(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        folders = set(pool.map(lambda _: photo_pool(tmp_path, 6, 16), range(4)))
    assert folders == {tmp_path / "photo-crops-16px-6"} and sorted(p.name for p in tmp_path.iterdir()) == [
        "photo-crops-16px-6"]  # no partial copies left beside it
    assert len(list((tmp_path / "photo-crops-16px-6").iterdir())) == 6


def test_local_levels_and_photo_nulls_are_tabled():
    def record(pair, rank, n_asserted):
        answer = {"available": True, "rank": rank, "found": [rank is not None] * len(pair.planted),
                  "n_asserted": n_asserted, "seconds": 0.1}
        return pair.to_json() | {"synth_s": 0.1, "embed_s": 0.1, "methods": {m: answer for m in METHODS}}

    pairs = build_suites(["local"])
    records = [record(pairs[0], 1, 1), record(pairs[-1], None, 0)]
    document = summarise(records)
    assert document["summary"]["local"][pairs[0].level]["spotdiff"]["acc1"] == 1.0
    assert document["summary"]["local"]["photos: no difference"]["spotdiff"]["false_finding_rate"] == 0.0
    assert set(document["breakdown"]["local"]) == {pairs[0].group, "none"}
    document |= {"command": "test", "started": "now", "runtime_s": 1.0, "image_size": 64, "spaces": ["m"],
                 "environment": {"machine": "x", "python": "3"}, "methods": list(METHODS), "pairs": records}
    table = write_markdown(document)
    assert "| small local edits | photos: no difference | 1 | false-finding rate (lower is better) | 0.00 |" in table
    assert "(local edits: 128 px)" in table and "### small local edits: Acc@1 by edit" in table


def test_a_pair_is_drawn_with_what_it_says_was_planted(tmp_path):
    pair = next(p for p in build_suites(["multi"], quick=True) if len(p.planted) == 3)
    run(pair.write(tmp_path / "pair", image_size=32))
    truth = json.loads((tmp_path / "pair" / "truth.json").read_text())
    assert truth["n_per_set"] == pair.n_per_set and truth["complete"]
    assert [p["edit"] for p in truth["plants"]] == [p.value for p in pair.planted if p.kind == "edit"]
    assert truth["world_pair"]["differences"] == [p.description for p in pair.planted if p.kind == "world"]


@pytest.fixture
def clip_pair(tmp_path, tiny_clip):
    """A small pair embedded in the tiny CLIP and the measurement space, as the benchmark embeds it."""
    from spotdiff.models.embedding import TextMemo
    from spotdiff.models.embedding import embed_images
    from spotdiff.models.host import ModelHost
    from spotdiff.io.images import scan_image_set
    from spotdiff.pipeline import Space

    pair = build_suites(["single"], quick=True)[0]
    run(pair.write(tmp_path / "pair", image_size=48))
    set_a, set_b = (run(scan_image_set(tmp_path / "pair" / f"set_{s}", s)) for s in "ab")
    with ModelHost() as host:
        spaces = []
        for name in (tiny_clip, "measurements"):
            embedder = host.embedder(name)
            X = run(embed_images(embedder, set_a.images + set_b.images, None))
            text = TextMemo(embedder) if hasattr(embedder, "embed_text") else None
            spaces.append(Space(name, X, embedder.feature_names, text, (), getattr(embedder, "vocabulary", None)))
        yield PairData(tuple(spaces), set_a.images, set_b.images)


@pytest.mark.slow
def test_baselines_rank_phrases_on_the_same_embeddings(clip_pair):
    bank = PhraseBank()
    for answer, key in ((visdiff_embedding(clip_pair, bank), abs), (gsclip(clip_pair, bank), abs)):
        assert answer.available and len(answer.claims) == 25
        scores = [key(c.score) for c in answer.claims]
        assert scores == sorted(scores, reverse=True)
        assert {c.more_in for c in answer.claims} <= {"a", "b"}
        assert set(c.statement for c in answer.claims) <= set(bank.vectors(clip_pair.spaces[0])[0])
        assert 0 <= answer.n_asserted <= len(answer.claims)
    assert visdiff_embedding(clip_pair, bank).n_asserted == 25  # no test: it asserts all it ranks
    assert negate("a star shape") == "no star shape" and negate("stripes") == "no stripes"
    for answer in (spotdiff(clip_pair, seed=0), no_heldout(clip_pair, seed=0)):
        assert answer.n_asserted == len(answer.claims)  # only supported findings are claims


def test_baselines_that_read_text_say_so_when_there_is_no_text_encoder(clip_pair):
    measurement_only = PairData(clip_pair.spaces[1:], clip_pair.images_a, clip_pair.images_b)
    assert not visdiff_embedding(measurement_only, PhraseBank()).available
    assert not gsclip(measurement_only, PhraseBank()).available


def test_a_measurements_decoder_ranks_without_a_text_encoder(clip_pair):
    from spotdiff.analysis.decoder.proposer import DecoderProposer
    from spotdiff.apps.bench.baselines import decoder_ranking
    from spotdiff.models.embedders.measurements import MEASUREMENTS

    measurement_only = PairData(clip_pair.spaces[1:], clip_pair.images_a, clip_pair.images_b)
    answer = decoder_ranking(measurement_only, DecoderProposer.find("measurements"))
    named = {s for m in MEASUREMENTS for s in (m.higher, m.lower)}
    assert answer.available and answer.n_asserted == len(answer.claims) > 0  # it asserts all it ranks
    assert {c.statement for c in answer.claims} <= named
    assert [c.score for c in answer.claims] == list(range(1, len(answer.claims) + 1))


def check_document(document, suites):
    assert document["schema"] == "spotdiff-bench/1" and document["methods"] == list(METHODS)
    assert {r["suite"] for r in document["pairs"]} == set(suites)
    for record in document["pairs"]:
        assert set(record["methods"]) == set(METHODS)
        for answer in record["methods"].values():
            assert len(answer["found"]) == len(record["planted"])
            assert answer["rank"] is None or answer["rank"] >= 1
    for suite in suites:
        for by_method in document["summary"][suite].values():
            metrics = by_method["spotdiff"]
            key = "false_finding_rate" if suite == "null" else "acc1"
            assert 0.0 <= metrics[key] <= 1.0
    assert {t["target"] for t in document["targets"]} >= {"false findings on null pairs",
                                                          "recall on 3-difference pairs"}


@pytest.mark.slow
def test_quick_run_with_the_measurement_model(tmp_path):
    suites = SUITES
    document = run(run_benchmark(BenchConfig(model="measurements", quick=True, command="test")))
    check_document(document, suites)
    # a planted blur is what measurements see best: found at rank 1, and no null pair gives a finding
    blur = next(r for r in document["pairs"] if r["group"] == "blur")
    assert blur["methods"]["spotdiff"]["rank"] == 1
    assert document["summary"]["null"]["no difference"]["spotdiff"]["false_finding_rate"] == 0.0
    json_path, md_path = write_results(document, tmp_path / "results")
    assert json.loads(json_path.read_text())["pairs"]
    table = md_path.read_text()
    assert "| suite | level | pairs | metric | spotdiff | VisDiff embedding-only" in table and "n/a" in table


@pytest.mark.slow
def test_quick_run_through_the_cli_with_a_clip_model(tmp_path, tiny_clip, capsys):
    out = tmp_path / "bench"
    assert main(["bench", "--quick", "--model", tiny_clip, "--suites", "single,null", "--out", str(out),
                 "--workers", "2", "--image-size", "48", "-q"]) == 0
    document = json.loads((out / "planted.json").read_text())
    check_document(document, ("single", "null"))
    assert document["spaces"] == [tiny_clip, "measurements"]
    assert document["command"].startswith(f"spotdiff bench --model {tiny_clip}")
    for record in document["pairs"]:
        assert len(record["methods"]["gsclip"]["top"]) == 10  # the text baselines ran in the CLIP space
    assert "Targets" in capsys.readouterr().out


def test_a_run_of_some_methods_records_and_summarises_only_those(tmp_path):
    out = tmp_path / "bench"
    assert main(["bench", "--quick", "--model", "measurements", "--suites", "null", "--methods", "spotdiff,gsclip",
                 "--out", str(out), "-q"]) == 0
    document = json.loads((out / "planted.json").read_text())
    assert document["methods"] == ["spotdiff", "gsclip"]
    assert document["command"].endswith("--methods spotdiff,gsclip")
    assert all(set(r["methods"]) == {"spotdiff", "gsclip"} for r in document["pairs"])
    assert set(document["summary"]["null"]["no difference"]) == {"spotdiff", "gsclip"}
    assert main(["bench", "--quick", "--suites", "null", "--methods", "spotdiff,visdiff", "-q",
                 "--model", "measurements"]) == 2


def test_unknown_suite_is_an_input_error(capsys):
    assert main(["bench", "--quick", "--suites", "single,nonsense", "-q", "--model", "measurements"]) == 2
    assert "nonsense" in capsys.readouterr().err


def toy_shapes_available():
    from spotdiff.errors import SpotdiffError
    from spotdiff.models.registry import availability, get_model_spec

    try:
        return availability(get_model_spec("toy-shapes"))[0]
    except SpotdiffError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not toy_shapes_available(), reason="the toy-shapes CLIP is not in this checkout")
def test_quick_run_with_toy_shapes():
    document = run(run_benchmark(BenchConfig(model="toy-shapes", quick=True, suites=("single", "null"))))
    check_document(document, ("single", "null"))
    assert document["spaces"] == ["toy-shapes", "measurements"]
    red = next(r for r in document["pairs"] if r["group"] == "colour")
    assert red["methods"]["spotdiff"]["rank"] == 1  # toy-shapes reads colours: "red objects" comes first
    for record in document["pairs"]:  # the baselines chose among the model's own words
        assert all(claim[0] in load_vocabulary("toy-shapes") for claim in record["methods"]["gsclip"]["top"])



def test_spotdiff_is_raced_against_the_baselines_not_against_its_own_parts():
    from spotdiff.apps.bench.options import ABLATIONS, BASELINES
    from spotdiff.apps.bench.summary import targets

    def race(values):
        summary = {"single": {"100 %": {m: {"acc1": v} for m, v in values.items()}}}
        return next(t for t in targets(summary) if t["target"].startswith("spotdiff ahead of every baseline"))

    ahead = {"spotdiff": 0.8, **{m: 0.5 for m in BASELINES}, **{m: 0.9 for m in ABLATIONS}}
    assert race(ahead)["met"] and race(ahead)["bound"] == "ahead of all"  # an ablation doing better is no race
    behind = dict(ahead, gsclip=0.85)
    assert not race(behind)["met"] and race(behind)["bound"] == "not ahead of: GSCLIP-style t-test 0.85"
    alone = {"single": {"100 %": {"spotdiff": {"acc1": 0.8}, **{m: {"acc1": 0.9} for m in ABLATIONS}}}}
    assert not [t for t in targets(alone) if t["target"].startswith("spotdiff ahead")]  # no baseline ran: no race
