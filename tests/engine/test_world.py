from __future__ import annotations

import numpy as np
import pytest

from spotdiff.errors import InvalidParameterError
from spotdiff.synthetic.world import (
    BACKGROUND_COLOURS,
    BACKGROUNDS,
    COLOURS,
    POSITIONS,
    SHAPES,
    SIZES,
    TEXTURES,
    PairSpec,
    Scene,
    SceneObject,
    SetSpec,
    attributes,
    caption,
    pair_differing_in,
    render,
    sample_scene,
)


def one_object_scene(shape="circle", colour="red", size="large", texture="solid", x=0.5, y=0.5,
                     background="flat", background_colour="grey", radius=None) -> Scene:
    radius = radius if radius is not None else (0.18 if size == "large" else 0.08)
    obj = SceneObject(shape, colour, size, texture, x, y, radius)
    return Scene(background, background_colour, (obj,), 64, 0)


def colour_mask(image, rgb, tolerance=40) -> np.ndarray:
    pixels = np.asarray(image, dtype=np.int32)
    return (np.abs(pixels - np.asarray(rgb)).max(axis=2) <= tolerance)


def scenes(spec: SetSpec, n: int, seed: int = 0) -> list[Scene]:
    rng = np.random.default_rng(seed)
    return [sample_scene(spec, rng) for _ in range(n)]


# --- determinism ---------------------------------------------------------------------------------------------


def test_same_seed_gives_same_scenes_pixels_and_captions():
    first, second = scenes(SetSpec(), 20, seed=7), scenes(SetSpec(), 20, seed=7)
    assert first == second
    for a, b in zip(first, second):
        assert render(a).tobytes() == render(b).tobytes()
        assert caption(a) == caption(b)


def test_different_seeds_give_different_scenes():
    first, second = scenes(SetSpec(), 20, seed=1), scenes(SetSpec(), 20, seed=2)
    assert [caption(s) for s in first] != [caption(s) for s in second]
    assert render(first[0]).tobytes() != render(second[0]).tobytes()


def test_render_is_rgb_at_any_size():
    scene = scenes(SetSpec(), 1, seed=3)[0]
    assert render(scene).size == (64, 64) and render(scene).mode == "RGB"
    assert render(scene, 224).size == (224, 224)
    assert render(scene, (640, 480)).size == (640, 480)
    with pytest.raises(InvalidParameterError):
        render(scene, 4)


# --- every vocabulary value renders and shows ------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_is_drawn_in_its_colour(shape):
    image = render(one_object_scene(shape=shape))
    red = colour_mask(image, COLOURS["red"]).sum()
    assert 150 < red < 0.4 * 64 * 64


def test_shapes_differ_from_each_other():
    masks = {s: colour_mask(render(one_object_scene(shape=s)), COLOURS["red"]) for s in SHAPES}
    for i, a in enumerate(SHAPES):
        for b in SHAPES[i + 1:]:
            assert (masks[a] != masks[b]).sum() > 40, (a, b)
    assert not masks["ring"][32, 32] and masks["circle"][32, 32]  # the ring has a hole


@pytest.mark.parametrize("colour", COLOURS)
@pytest.mark.parametrize("background_colour", BACKGROUND_COLOURS)
def test_each_colour_is_visible_on_each_background_colour(colour, background_colour):
    image = render(one_object_scene(colour=colour, background_colour=background_colour))
    centre = np.asarray(image, dtype=np.int32)[32, 32]
    assert np.abs(centre - COLOURS[colour]).max() <= 3
    assert np.linalg.norm(centre - BACKGROUND_COLOURS[background_colour]) > 85


@pytest.mark.parametrize("background", BACKGROUNDS)
def test_each_background_renders_with_its_own_texture(background):
    scene = Scene(background, "grey", (), 64, 5)
    pixels = np.asarray(render(scene), dtype=np.float32)
    assert abs(pixels.mean() - 128) < 20
    if background == "flat":
        assert pixels.std() == 0
    else:
        assert pixels.std() > 5
    others = {b: render(Scene(b, "grey", (), 64, 5)).tobytes() for b in BACKGROUNDS}
    assert sum(image == render(scene).tobytes() for image in others.values()) == 1


@pytest.mark.parametrize("texture", ["striped", "dotted"])
def test_textures_show_inside_the_object(texture):
    def spread(t):
        pixels = np.asarray(render(one_object_scene(shape="square", texture=t)), dtype=np.float32)
        return pixels[26:38, 26:38].std(axis=(0, 1)).mean()

    assert spread("solid") < 1
    assert spread(texture) > 20


def test_large_objects_cover_more_pixels_than_small_ones():
    small = colour_mask(render(one_object_scene(size="small")), COLOURS["red"]).sum()
    large = colour_mask(render(one_object_scene(size="large")), COLOURS["red"]).sum()
    assert large > 3 * small > 0


@pytest.mark.parametrize("position", POSITIONS[:-1])
def test_positions_place_objects_in_their_region(position):
    spec = SetSpec(positions=[position], colours=["red"], counts=[1], textures=["solid"], backgrounds=["flat"])
    for scene in scenes(spec, 30):
        assert scene.objects[0].position == position
    for scene in scenes(spec, 5):
        ys, xs = np.nonzero(colour_mask(render(scene), COLOURS["red"]))
        dx, dy = xs.mean() - 31.5, ys.mean() - 31.5
        assert {"center": max(abs(dx), abs(dy)) < 10, "left": dx < -8 and abs(dy) < -dx,
                "right": dx > 8 and abs(dy) < dx, "top": dy < -8 and abs(dx) < -dy,
                "bottom": dy > 8 and abs(dx) < dy}[position]


# --- words -----------------------------------------------------------------------------------------------------


def test_caption_groups_and_counts_objects():
    objects = (
        SceneObject("circle", "red", "small", "solid", 0.2, 0.2, 0.08),
        SceneObject("star", "blue", "large", "solid", 0.6, 0.6, 0.18),
        SceneObject("circle", "red", "small", "solid", 0.8, 0.2, 0.08),
    )
    scene = Scene("stripes", "grey", objects, 64, 0)
    assert caption(scene) == "two small red circles and a large blue star on a striped background"
    crosses = Scene("noise", "sand", (SceneObject("cross", "green", "small", "dotted", 0.2, 0.5, 0.08),) * 3, 64, 0)
    assert caption(crosses) == "three small dotted green crosses on a noisy background"
    assert caption(crosses, positions=True) == "three small dotted green crosses on the left on a noisy background"
    assert caption(crosses, background_colour=True) == "three small dotted green crosses on a noisy sand background"


def test_captions_and_attributes_mention_every_attribute():
    for scene in scenes(SetSpec(), 50):
        text, facts = caption(scene), attributes(scene)
        assert facts["count"] == len(scene.objects) and facts["background"] == scene.background
        for key in ("shapes", "colours", "sizes", "textures", "positions"):
            assert len(facts[key]) == facts["count"]
        for obj in scene.objects:
            assert obj.colour in text and obj.size in text and obj.shape in text
            assert obj.texture == "solid" or obj.texture in text
        assert {"flat": "plain", "stripes": "striped", "checker": "checkered", "noise": "noisy",
                "gradient": "gradient"}[scene.background] in text


# --- set specs -----------------------------------------------------------------------------------------------


def test_set_spec_restrictions_hold_over_200_samples():
    spec = SetSpec(backgrounds=["stripes", "checker"], background_colours=["sage"], shapes={"circle": 1.0},
                   colours=("red", "blue"), sizes=["small"], textures=["dotted"], positions=["top"],
                   counts=[2, 3], image_size=32)
    seen_counts = set()
    for scene in scenes(spec, 200):
        assert scene.background in ("stripes", "checker") and scene.background_colour == "sage"
        assert scene.size == 32
        seen_counts.add(len(scene.objects))
        for obj in scene.objects:
            assert (obj.shape, obj.size, obj.texture, obj.position) == ("circle", "small", "dotted", "top")
            assert obj.colour in ("red", "blue")
    assert seen_counts == {2, 3}


def test_set_spec_weights_are_respected():
    objects = [o for s in scenes(SetSpec(shapes={"circle": 3, "star": 1}), 300) for o in s.objects]
    share = np.mean([o.shape == "circle" for o in objects])
    assert len(objects) > 500 and abs(share - 0.75) < 0.05


def test_default_spec_uses_the_whole_vocabulary():
    drawn = scenes(SetSpec(), 300)
    objects = [o for s in drawn for o in s.objects]
    assert {o.shape for o in objects} == set(SHAPES) and {o.colour for o in objects} == set(COLOURS)
    assert {o.size for o in objects} == set(SIZES) and {o.texture for o in objects} == set(TEXTURES)
    assert {s.background for s in drawn} == set(BACKGROUNDS)
    assert {len(s.objects) for s in drawn} == {1, 2, 3, 4}


@pytest.mark.parametrize("bad", [dict(shapes={"hexagon": 1.0}), dict(colours=["pink"]), dict(counts=[0]),
                                 dict(sizes={"small": 0.0}), dict(textures={"solid": -1.0}), dict(image_size=2)])
def test_invalid_set_specs_are_refused(bad):
    with pytest.raises(InvalidParameterError):
        SetSpec(**bad)


def test_set_spec_is_hashable_and_comparable():
    assert SetSpec(shapes=["circle"]) == SetSpec(shapes={"circle": 2.0})
    assert hash(SetSpec(shapes=["circle"])) == hash(SetSpec(shapes={"circle": 5}))


# --- pairs -----------------------------------------------------------------------------------------------------

PLANTED = [
    ("shape", "star", lambda s: any(o.shape == "star" for o in s.objects)),
    ("background", "stripes", lambda s: s.background == "stripes"),
    ("background_colour", "sand", lambda s: s.background_colour == "sand"),
    ("colour", "red", lambda s: any(o.colour == "red" for o in s.objects)),
    ("size", "large", lambda s: any(o.size == "large" for o in s.objects)),
    ("texture", "striped", lambda s: any(o.texture == "striped" for o in s.objects)),
    ("position", "left", lambda s: any(o.position == "left" for o in s.objects)),
    ("count", "more", lambda s: len(s.objects) >= 3),
]


@pytest.mark.parametrize("attribute, value, has", PLANTED, ids=[p[0] for p in PLANTED])
@pytest.mark.parametrize("prevalence", [1.0, 0.3])
def test_pair_prevalence_is_respected(attribute, value, has, prevalence):
    pair = pair_differing_in(attribute, value, prevalence=prevalence)
    assert not any(has(s) for s in scenes(pair.a, 300, seed=1))
    share = np.mean([has(s) for s in scenes(pair.b, 300, seed=2)])
    assert abs(share - prevalence) < 0.08
    assert pair.truth["attribute"] == attribute and pair.truth["more_in"] == "b"
    assert pair.truth["prevalence"] == prevalence and pair.differences == (pair.truth["description"],)


def test_pair_descriptions_are_plain_words():
    assert pair_differing_in("shape", "star").truth["description"] == "stars"
    assert pair_differing_in("shapes", "cross").truth["description"] == "crosses"
    assert pair_differing_in("background", "stripes").truth["description"] == "striped backgrounds"
    assert pair_differing_in("color", "red").truth["description"] == "red objects"
    assert pair_differing_in("count", "fewer").truth["description"] == "fewer objects"
    assert pair_differing_in("count", 4).truth == {
        "attribute": "count", "value": [4], "more_in": "b", "prevalence": 1.0, "description": "more objects"}


def test_pair_with_value_a_pins_set_a():
    pair = pair_differing_in("colour", "red", value_a="blue", every_object=True)
    assert all(o.colour == "blue" for s in scenes(pair.a, 50) for o in s.objects)
    assert all(o.colour == "red" for s in scenes(pair.b, 50) for o in s.objects)


def test_pair_without_every_object_changes_one_object():
    pair = pair_differing_in("shape", "star")
    for scene in scenes(pair.b, 100):
        assert sum(o.shape == "star" for o in scene.objects) == 1


def test_pair_keeps_the_base_spec():
    base = SetSpec(backgrounds=["flat"], image_size=96)
    pair = pair_differing_in("shape", "ring", base=base)
    assert pair.a.image_size == pair.b.image_size == 96
    assert all(s.background == "flat" for s in scenes(pair.b, 30))
    assert isinstance(pair, PairSpec)


@pytest.mark.parametrize("args", [("shape", "hexagon"), ("mood", "happy"), ("position", "anywhere"),
                                  ("colour", "red", "red")])
def test_pair_errors(args):
    with pytest.raises(InvalidParameterError):
        pair_differing_in(*args)


def test_pair_refuses_a_value_that_leaves_a_nothing():
    with pytest.raises(InvalidParameterError, match="leaves set A"):
        pair_differing_in("shape", "star", base=SetSpec(shapes=["star"]))
