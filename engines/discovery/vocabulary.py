"""Word lists that decide what a keyword is worth, kept as data.

- ``STOP_WORDS`` never become keywords (articles, prepositions, prompt glue).
- ``GENERIC_WORDS`` are keywords, but too common in prompts, names and tags to pick a LoRA on their own:
  quality boilerplate ("masterpiece, best quality"), the generic medium words users warn about
  ("digital illustration", Lora-Manager #256), generic subjects ("1girl", "portrait") and colours.
  A generic word can add to a LoRA's score; it can never be the only evidence for it.
- ``NAME_NOISE`` are tokens of file names that say nothing about the concept (version tags, "lora").
- ``FAMILY_NAME_HINTS``: name tokens that tell the base family when nothing else does (names-only mode).
"""

from __future__ import annotations

import re

STOP_WORDS = frozenset("""
a an the and or but nor of in on at to for from by with without into onto over under above below near
behind beside between through while during as is are was were be been being it its this that these those
there here his her hers their them they he she we you your our my me i him us who whom which what when
where why how very so too also just only not no yes than then very some any each every all both few more
most other such own same can could should would will may might must do does did done has have had having
up down out off again further once s t d ll m o re ve y wearing holding having looking showing made
""".split())

GENERIC_WORDS = frozenset("""
masterpiece best quality high highres absurdres ultra detailed detail details intricate 8k 4k hd hdr uhd
sharp focus beautiful stunning amazing gorgeous pretty cute realistic photorealistic photo photograph
photography raw cinematic lighting light professional award winning trending artstation style styled art
artwork illustration digital painting drawing render rendering rendered image picture official wallpaper
concept design lora model 1girl 1boy 2girls 2boys solo girl boy woman man women men person people female
male portrait face body full shot upper close closeup looking viewer smile standing sitting background
simple scene scenery landscape outdoors indoors day night sky good great perfect extremely highly super
color colors colorful colour vibrant white black red blue green yellow orange purple pink brown grey gray
dark bright soft hair eyes skin long short big small large new old young adult front side view angle
depth field bokeh 3d 2d anime manga cartoon comic animation aesthetic sci fi scifi score up newest
fantasy retro vintage modern futuristic
""".split())

NAME_NOISE = frozenset("""
lora locon loha lokr lycoris lyco dora network model safetensors final last test epoch step steps fp16 fp32
bf16 pruned ema v1 v2 v3 v4 v5 v6 v7 v8 v9 v10 xl sdxl sd sd1 sd15 sd2 sd21 sd3 sd35 flux flux1 pony ill
illustrious noob noobai
""".split())

# Version and epoch tags in file names: v2, v1.5, v10b, 000012, e10, ep5, s3000, r16, dim32, a16.
VERSION_TOKEN = re.compile(r"^(?:v\d+[a-z]?|\d+|e\d+|ep\d+|epoch\d+|s\d+|step\d+|r\d+|dim\d+|a\d+|rank\d+)$")

# Normalised name token -> family (only used when neither the header nor a sidecar says).
FAMILY_NAME_HINTS = {
    "xl": "sdxl", "sdxl": "sdxl", "pony": "sdxl", "pdxl": "sdxl", "illustrious": "sdxl", "ill": "sdxl",
    "ilxl": "sdxl", "noob": "sdxl", "noobai": "sdxl",
    "flux": "flux", "flux1": "flux", "f1d": "flux", "fluxd": "flux",
    "sd15": "sd15", "sd1": "sd15", "sd3": "sd3", "sd35": "sd3",
}
