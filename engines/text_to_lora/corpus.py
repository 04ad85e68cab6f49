"""A seeded generator of varied text-to-image prompts: the corpus for calibration and proposer training.

Prompts are built from templates over word lists (subjects, attributes, actions, settings, media, lighting,
camera and quality terms), so a few thousand distinct prompts come out in milliseconds, offline, with no
licensed text. Splits are disjoint: ``calibration``, ``train`` and ``heldout`` use separate seed streams and a
prompt that appears in an earlier split is skipped in a later one.
"""

from __future__ import annotations

import random

SUBJECTS = (
    "cat", "dog", "fox", "owl", "horse", "dragon", "robot", "knight", "castle", "lighthouse", "sailing ship",
    "forest", "mountain", "city", "girl", "old man", "astronaut", "wizard", "tiger", "whale", "butterfly",
    "samurai", "mermaid", "train", "bicycle", "teapot", "violin", "cathedral", "windmill", "jellyfish",
    "elephant", "penguin", "giraffe", "wolf", "bear", "rabbit", "deer", "hummingbird", "octopus", "phoenix",
    "unicorn", "golem", "vampire", "pirate", "detective", "dancer", "chef", "farmer", "monk", "queen", "king",
    "child", "grandmother", "soldier", "scientist", "musician", "painter", "clockmaker", "blacksmith", "witch",
    "spaceship", "submarine", "hot air balloon", "motorcycle", "sports car", "tram", "zeppelin", "treehouse",
    "bridge", "temple", "pagoda", "skyscraper", "cottage", "market", "library", "greenhouse", "waterfall",
    "volcano", "glacier", "desert oasis", "coral reef", "mushroom", "sunflower", "rose", "bonsai tree",
    "cherry tree", "cactus", "crystal", "lantern", "chess board", "clock tower", "fountain", "statue", "mask",
    "crown", "sword", "shield", "book", "map", "guitar", "piano", "camera", "typewriter", "bowl of fruit",
    "cup of coffee", "slice of cake", "bowl of ramen", "loaf of bread", "koi fish", "snail", "frog", "beetle",
    "parrot", "peacock", "swan", "crow", "lion", "panda", "koala", "sloth", "hedgehog", "squirrel", "raccoon",
)
ATTRIBUTES = (
    "red", "blue", "green", "golden", "silver", "purple", "orange", "black", "white", "pink", "ancient", "tiny",
    "giant", "glowing", "misty", "dark", "bright", "rusty", "wooden", "crystal", "snowy", "fluffy", "mechanical",
    "ethereal", "ornate", "weathered", "futuristic", "medieval", "victorian", "abandoned", "enchanted", "cheerful",
    "melancholic", "mysterious", "majestic", "cute", "fierce", "sleepy", "translucent", "iridescent", "porcelain",
    "paper", "neon", "marble", "bronze", "velvet", "feathered", "striped", "spotted", "lonely", "colossal",
)
ACTIONS = (
    "sleeping", "running", "flying", "reading a book", "playing chess", "dancing", "swimming", "sitting",
    "standing guard", "drinking tea", "looking at the stars", "fishing", "painting", "singing", "climbing",
    "waiting", "exploring", "hiding", "laughing", "meditating", "walking", "riding a bicycle", "cooking",
    "building a sandcastle", "watching the sunset", "playing the violin", "carrying a lantern", "gardening",
)
SETTINGS = (
    "on a hill", "in a forest", "under the sea", "in space", "at the beach", "in a library", "on a rooftop",
    "in the desert", "by a river", "in a cave", "in a snowy village", "on the moon", "in a busy street",
    "in a sunflower field", "inside a cathedral", "on a floating island", "in a bamboo grove", "in a swamp",
    "at a train station", "in a kitchen", "in a greenhouse", "on a mountain peak", "in a neon city",
    "in a medieval tavern", "in a zen garden", "on a frozen lake", "in a jungle", "at a night market",
    "in an art gallery", "in a lighthouse", "on a pirate ship", "in a wheat field", "among the clouds",
)
MEDIA = (
    "oil painting", "watercolor painting", "photograph", "pencil sketch", "3d render", "anime illustration",
    "pixel art", "digital painting", "ink drawing", "charcoal drawing", "claymation still", "stained glass",
    "woodblock print", "mosaic", "concept art", "children's book illustration", "vintage poster", "polaroid",
    "cinematic still", "low poly render", "paper cutout", "embroidery", "graffiti mural", "marble sculpture",
)
LIGHTING = (
    "at sunset", "at night", "in the rain", "in fog", "at dawn", "under neon lights", "in golden hour light",
    "by candlelight", "under moonlight", "in harsh noon sun", "with volumetric light", "with soft studio light",
    "during a thunderstorm", "in autumn", "in winter", "in spring", "with dramatic shadows", "backlit",
)
QUALITY = (
    "highly detailed", "sharp focus", "8k", "masterpiece", "trending on artstation", "intricate",
    "wide angle", "close-up", "bokeh", "symmetrical", "minimalist", "vibrant colors", "muted colors",
    "pastel palette", "high contrast", "soft focus", "35mm film", "isometric view", "aerial view", "macro shot",
)
ARTISTS = (
    "in the style of ukiyo-e", "art nouveau", "baroque", "impressionist", "surrealist", "cyberpunk",
    "steampunk", "art deco", "gothic", "studio ghibli style", "pop art", "bauhaus", "renaissance",
)
TEMPLATES = (
    "a {medium} of a {attr} {subject} {setting}",
    "a {attr} {subject} {action} {setting}, {lighting}",
    "{medium}, {attr} {subject} {action}, {quality}",
    "a {subject} {action} {setting}, {style}, {quality}",
    "portrait of a {attr} {subject}, {medium}, {lighting}, {quality}",
    "{attr} {subject} and a {attr2} {subject2} {setting}, {medium}",
    "a {medium} of a {subject} {setting} {lighting}, {style}",
    "{subject} {action}, {attr}, {lighting}, {quality}, {quality2}",
    "an {attr} {subject} made of {material}, {medium}, {quality}",
    "a {attr} {subject}",
    "{style} {medium} of a {attr} {subject} {action} {setting} {lighting}, {quality}",
)
MATERIALS = ("glass", "paper", "gold", "ice", "clouds", "smoke", "lego bricks", "yarn", "stone", "candy", "leaves")
SPLITS = {"calibration": 3_000_017, "train": 1_000_003, "heldout": 2_000_029}


def _one(rng: random.Random) -> str:
    template = rng.choice(TEMPLATES)
    subject, subject2 = rng.sample(SUBJECTS, 2)
    attr, attr2 = rng.sample(ATTRIBUTES, 2)
    quality, quality2 = rng.sample(QUALITY, 2)
    text = template.format(
        medium=rng.choice(MEDIA), attr=attr, attr2=attr2, subject=subject, subject2=subject2,
        setting=rng.choice(SETTINGS), action=rng.choice(ACTIONS), lighting=rng.choice(LIGHTING),
        quality=quality, quality2=quality2, style=rng.choice(ARTISTS), material=rng.choice(MATERIALS))
    return text.replace("an " + attr, ("an " if attr[0] in "aeiou" else "a ") + attr, 1) \
        .replace("a " + attr, ("an " if attr[0] in "aeiou" else "a ") + attr, 1)


def generate(count: int, split: str = "train", seed: int = 0) -> list[str]:
    """``count`` distinct prompts of ``split``, deterministic for (split, seed), disjoint from earlier splits."""
    if split not in SPLITS:
        raise ValueError(f"unknown corpus split '{split}', expected one of {', '.join(SPLITS)}")
    if count < 0 or count > 100_000:
        raise ValueError(f"corpus size must be 0..100000, got {count}")
    exclude: set[str] = set()
    for other in SPLITS:
        if other == split:
            break
        exclude.update(_draw(count, other, seed, set()))
    return _draw(count, split, seed, exclude)


def _draw(count: int, split: str, seed: int, exclude: set[str]) -> list[str]:
    rng = random.Random(SPLITS[split] * 7919 + seed)
    out: list[str] = []
    seen = set(exclude)
    attempts = 0
    while len(out) < count and attempts < count * 50:
        attempts += 1
        prompt = _one(rng)
        if prompt not in seen:
            seen.add(prompt)
            out.append(prompt)
    return out
