"""Slot fillers for task topics ("for a {business}", "about {subject}"), as data.

Topics are built from these pools so that the subject of a request varies far more than any model could
memorise: a rewrite can only keep "a logo for a dog groomer" about a dog groomer by reading the prompt.
"""

from __future__ import annotations

POOLS: dict[str, tuple[str, ...]] = {
    "business": (
        "coffee shop", "bakery", "law firm", "dog groomer", "yoga studio", "bike shop", "tech startup",
        "dental clinic", "flower shop", "bookstore", "pizza place", "small hotel", "climbing gym", "car wash",
        "art gallery", "tea room", "vegan cafe", "tattoo studio", "plumbing company", "language school",
        "toy store", "barber shop", "wine bar", "pet shelter", "escape room", "ice cream parlor", "farm shop",
        "music school", "cleaning service", "surf school",
    ),
    "product": (
        "running shoes", "headphones", "a desk lamp", "a leather bag", "a smart watch", "a water bottle",
        "a coffee grinder", "a yoga mat", "a backpack", "a rain jacket", "a board game", "a phone case",
        "a standing desk", "a camping tent", "a kettle", "wireless earbuds", "a scented candle", "a bike helmet",
    ),
    "subject": (
        "dogs", "remote work", "saving energy at home", "electric cars", "healthy sleep", "climate change",
        "urban gardening", "time management", "social media", "public transport", "bees", "recycling",
        "video games", "space travel", "coffee", "minimalism", "volunteering", "ancient Rome", "chess",
        "street food", "ocean plastic", "learning languages", "friendship", "robots", "the night sky",
    ),
    "data_item": (
        "dates", "emails", "phone numbers", "invoices", "user names", "csv rows", "log lines", "addresses",
        "prices", "timestamps", "json files", "urls", "passwords", "temperatures", "product codes", "orders",
    ),
    "feature": (
        "login form", "checkout page", "search bar", "date parser", "upload button", "payment flow",
        "signup page", "shopping cart", "profile page", "settings menu", "password reset", "image gallery",
        "chat window", "export button", "notification panel", "order history",
    ),
    "app": (
        "todo app", "bookstore", "recipe site", "chat app", "fitness tracker", "library system", "parking app",
        "event calendar", "pet adoption site", "budget tracker", "music player", "car rental service",
        "plant care app", "movie database", "school portal",
    ),
    "metric": (
        "top customers", "daily orders", "monthly revenue", "churned users", "late deliveries", "new signups",
        "refund rates", "website traffic", "average basket size", "support response times", "stock levels",
        "ad clicks", "repeat buyers", "cancelled bookings",
    ),
    "scene": (
        "a woman in the rain", "an old fisherman", "a knight", "mountains at sunset", "a foggy forest",
        "a desert city", "a cat in space", "a red car", "a cozy cabin", "a lighthouse in a storm",
        "a busy night market", "a dragon over a castle", "a quiet library", "a robot gardener",
        "a field of sunflowers", "a snowy village", "an astronaut on the moon", "a jazz singer",
    ),
    "event": (
        "a jazz concert", "a film festival", "a science fair", "a charity run", "a book launch",
        "a wedding", "a farmers market", "a hackathon", "a school play", "a food festival", "a yoga retreat",
        "a product launch", "a birthday party", "a team offsite",
    ),
    "place": (
        "Japan", "Paris", "Rome", "Lisbon", "Berlin", "the mountains", "Iceland", "New York", "Barcelona",
        "the Scottish Highlands", "Kyoto", "Vienna", "the Alps", "Mexico City", "Prague", "the coast",
    ),
    "dish": (
        "pasta", "vegan curry", "chocolate cake", "tacos", "ramen", "banana bread", "lentil soup", "pizza",
        "pancakes", "fried rice", "apple pie", "chicken stew", "falafel", "risotto", "pad thai", "chili",
    ),
    "school_topic": (
        "fractions", "the solar system", "world capitals", "basic grammar", "photosynthesis", "the water cycle",
        "poetry", "volcanoes", "the French revolution", "electricity", "map reading", "multiplication",
        "the human heart", "climate zones", "simple machines",
    ),
    "role": (
        "data job", "teaching role", "design job", "sales role", "nurse position", "marketing manager job",
        "junior developer role", "chef position", "project manager role", "internship at a bank",
        "customer support role", "warehouse manager job",
    ),
    "goal": (
        "a house", "retirement", "an emergency fund", "a new car", "a wedding", "a trip abroad",
        "university fees", "a new laptop", "paying off debt", "a family holiday",
    ),
    "km": ("5", "10", "15", "21", "42"),
    "mood": (
        "summer love", "leaving home", "a rainy Sunday", "friendship", "the city at night", "a road trip",
        "growing up", "the ocean", "new beginnings", "missing someone", "winter mornings", "dancing",
    ),
}
