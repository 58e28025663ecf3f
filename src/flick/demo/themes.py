"""The demo world's vocabulary: themes (hashtags, captions, comments, colours, scenes and
pitch), and the names creators and viewers are made from. Data only."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Theme:
    """What a theme's videos look, sound and read like."""

    name: str
    tags: tuple[str, ...]  # hashtags without '#', the first is the theme's own
    captions: tuple[str, ...]  # "{n}" is a small number, "{thing}" one of `things`
    things: tuple[str, ...]
    comments: tuple[str, ...]
    palette: tuple[str, ...]  # hex colours, darkest first
    scenes: tuple[str, ...]  # keys of clips.SCENES this theme prefers
    pitch: tuple[int, int]  # the range of its tones, Hz
    title: str  # the word drawn on its clips


THEMES = (
    Theme(
        "cats",
        ("cats", "catsoftiktok", "kitten", "meow", "purr", "catlife"),
        ("Caught {thing} mid-zoomies", "Day {n} of asking the cat to pay rent", "{thing}, again"),
        ("the tabby", "our kitten", "the void", "a sunbeam nap"),
        ("the loaf!!", "my cat does this too", "protect at all costs", "meow back"),
        ("#2b1b0e", "#f0a030", "#ffd27a", "#fff4e0"),
        ("life", "plasma", "carpet"),
        (520, 880),
        "MEOW",
    ),
    Theme(
        "dogs",
        ("dogs", "dogsoftiktok", "puppy", "goodboy", "doglife"),
        ("{thing} saw a squirrel", "Walk number {n} today", "Who's a good boy? {thing}"),
        ("the corgi", "our rescue pup", "a very fluffy boy", "the zoomies"),
        ("10/10 would pet", "good boy confirmed", "those ears!", "i need him"),
        ("#1d2a14", "#8cbf4a", "#e0c070", "#fffbe8"),
        ("shapes", "life", "gradient"),
        (300, 600),
        "WOOF",
    ),
    Theme(
        "cooking",
        ("cooking", "recipe", "foodtok", "easyrecipe", "homecooking", "dinner"),
        ("{thing} in {n} minutes", "The only {thing} recipe you need", "Weeknight {thing}"),
        ("garlic noodles", "shakshuka", "crispy tofu", "lemon pasta", "ramen"),
        ("saving this", "made it tonight, so good", "recipe please!", "that sizzle"),
        ("#2a0f08", "#d2462b", "#f2a541", "#fde8c8"),
        ("plasma", "zoom", "gradient"),
        (220, 440),
        "YUM",
    ),
    Theme(
        "baking",
        ("baking", "sourdough", "cake", "bakery", "dessert"),
        ("{thing}: attempt {n}", "Proofing {thing} overnight", "Crumb shot of {thing}"),
        ("sourdough", "cinnamon rolls", "a lemon tart", "croissants"),
        ("that crumb!", "how long did it proof?", "want", "butter everywhere, perfect"),
        ("#3b2412", "#c98b4f", "#f3d9b1", "#fff8ef"),
        ("gradient", "carpet", "zoom"),
        (330, 660),
        "BAKE",
    ),
    Theme(
        "travel",
        ("travel", "wanderlust", "traveltok", "roadtrip", "hiddengems"),
        ("{n} hours in {thing}", "Sunrise over {thing}", "You have to see {thing}"),
        ("Lisbon", "the Dolomites", "Kyoto", "Patagonia", "the Faroe Islands"),
        ("adding to my list", "where is this exactly?", "take me there", "unreal views"),
        ("#0b1e3a", "#1f78b4", "#7fc8f8", "#ffe6a7"),
        ("gradient", "zoom", "spectrum"),
        (260, 520),
        "GO",
    ),
    Theme(
        "music",
        ("music", "producer", "synth", "beatmaking", "newmusic", "livemusic"),
        ("Beat {n}: {thing}", "Made this on {thing}", "What should I call this {thing}?"),
        ("an old synth", "a loop pedal", "lo-fi chords", "a modular patch"),
        ("this slaps", "drop the full track", "on repeat", "the bassline!"),
        ("#12002b", "#7b2ff7", "#f107a3", "#00f5d4"),
        ("spectrum", "bars", "fractal"),
        (110, 440),
        "BEAT",
    ),
    Theme(
        "dance",
        ("dance", "dancechallenge", "choreo", "dancetok"),
        ("Learn {thing} in {n} counts", "{thing} challenge", "Freestyle friday #{n}"),
        ("this hook", "the shuffle", "a footwork combo", "the new trend"),
        ("teach me!!", "the footwork though", "trying this tonight", "so clean"),
        ("#1a0a1f", "#ff3d7f", "#ffbe0b", "#3a86ff"),
        ("shapes", "carpet", "bars"),
        (400, 800),
        "MOVE",
    ),
    Theme(
        "diy",
        ("diy", "homeproject", "woodworking", "upcycle", "howto"),
        ("Building {thing} from scrap", "{thing}, step {n}", "Fixing {thing} myself"),
        ("a shelf", "a bird house", "the old dresser", "a plant stand"),
        ("tool list?", "so satisfying", "doing this weekend", "clean joints"),
        ("#1f1a14", "#a0703c", "#d9b382", "#f4efe6"),
        ("automaton", "shapes", "zoom"),
        (180, 360),
        "MAKE",
    ),
    Theme(
        "fitness",
        ("fitness", "workout", "gymtok", "homeworkout", "running"),
        ("{n}-minute {thing}", "{thing} you can do anywhere", "Day {n} of {thing}"),
        ("core burner", "mobility flow", "hill sprints", "kettlebell set"),
        ("felt this one", "adding to my routine", "form check: perfect", "ouch. again."),
        ("#0d1b1e", "#16db93", "#efea5a", "#f29e4c"),
        ("bars", "shapes", "automaton"),
        (440, 880),
        "GO!",
    ),
    Theme(
        "gaming",
        ("gaming", "gamer", "speedrun", "retrogaming", "indiegame"),
        ("{thing} speedrun, attempt {n}", "This {thing} glitch", "Level {n} of {thing}"),
        ("the pixel dungeon", "a rhythm game", "the kart track", "my indie game"),
        ("frame perfect", "gg", "how did you skip that", "world record pace"),
        ("#050505", "#39ff14", "#ff00ff", "#00e5ff"),
        ("life", "automaton", "bars"),
        (600, 1200),
        "GG",
    ),
    Theme(
        "art",
        ("art", "painting", "artist", "digitalart", "sketch"),
        ("Painting {thing} in {n} layers", "Timelapse: {thing}", "Colour study {n}"),
        ("a storm", "a koi pond", "city lights", "a self portrait"),
        ("the colours!", "process video please", "framing this", "so calming"),
        ("#14213d", "#fca311", "#e5e5e5", "#ef476f"),
        ("plasma", "fractal", "gradient"),
        (260, 520),
        "ART",
    ),
    Theme(
        "science",
        ("science", "physics", "stem", "experiment", "learnontiktok"),
        ("Why {thing} happens", "{n} facts about {thing}", "Experiment: {thing}"),
        ("interference", "chaos", "fractals", "resonance"),
        ("teachers should show this", "wait, explain again", "mind blown", "source?"),
        ("#001219", "#0a9396", "#94d2bd", "#ee9b00"),
        ("fractal", "carpet", "automaton"),
        (200, 1000),
        "WHY?",
    ),
    Theme(
        "nature",
        ("nature", "outdoors", "forest", "ocean", "birds"),
        ("Morning in {thing}", "Listen to {thing}", "{thing}, {n} am"),
        ("the forest", "the tide pools", "a meadow", "the wetlands"),
        ("so peaceful", "where is this", "needed this today", "the sound!"),
        ("#081c15", "#2d6a4f", "#95d5b2", "#d8f3dc"),
        ("gradient", "plasma", "life"),
        (300, 700),
        "WILD",
    ),
    Theme(
        "comedy",
        ("comedy", "funny", "skit", "relatable", "lol"),
        ("When {thing}", "POV: {thing}", "Me after {n} coffees"),
        ("the wifi drops", "your code works first try", "mum calls mid-meeting"),
        ("why is this me", "i'm crying", "sending to my group chat", "too real"),
        ("#1b1b1b", "#ffd60a", "#ff7b00", "#ffffff"),
        ("shapes", "bars", "carpet"),
        (350, 900),
        "LOL",
    ),
    Theme(
        "fashion",
        ("fashion", "ootd", "style", "thrift", "outfit"),
        ("{n} ways to wear {thing}", "Thrift haul: {thing}", "Styling {thing}"),
        ("a denim jacket", "one white shirt", "vintage boots", "a silk scarf"),
        ("where is the jacket from?", "obsessed", "fit check passed", "need it"),
        ("#22223b", "#c9ada7", "#f2e9e4", "#9a8c98"),
        ("gradient", "spectrum", "carpet"),
        (330, 660),
        "FIT",
    ),
    Theme(
        "tech",
        ("tech", "coding", "gadgets", "programming", "setup"),
        ("My {thing} in {n} seconds", "{thing} you did not know", "Rating {thing}"),
        ("desk setup", "terminal tricks", "keyboard", "home server"),
        ("what keyboard is that", "dark mode gang", "link?", "ship it"),
        ("#0f0f1a", "#00ff9c", "#4361ee", "#e0e0e0"),
        ("automaton", "bars", "life"),
        (700, 1400),
        "</>",
    ),
    Theme(
        "skate",
        ("skate", "skateboarding", "kickflip", "skatepark"),
        ("Landed {thing} after {n} tries", "{thing} at the park", "Slow-mo {thing}"),
        ("a kickflip", "the 5-stair", "a boardslide", "a heelflip"),
        ("clean!", "that pop", "bails count too", "send it"),
        ("#1c1c1c", "#e63946", "#f1faee", "#a8dadc"),
        ("shapes", "zoom", "bars"),
        (250, 500),
        "SEND",
    ),
    Theme(
        "garden",
        ("garden", "plants", "plantsoftiktok", "growyourown", "houseplants"),
        ("{thing}: week {n}", "Repotting {thing}", "Harvest: {thing}"),
        ("the monstera", "tomatoes", "a fern", "the herb bed"),
        ("plant parent goals", "so green", "what soil do you use?", "thriving"),
        ("#132a13", "#4f772d", "#90a955", "#ecf39e"),
        ("plasma", "life", "gradient"),
        (280, 560),
        "GROW",
    ),
)
THEME_NAMES = tuple(theme.name for theme in THEMES)

# Tags any video may carry beside its theme's, as real captions do.
GENERIC_TAGS = ("fyp", "foryou", "viral", "tutorial", "asmr", "weekend", "dailyvlog")
GENERIC_COMMENTS = ("first!", "love this", "wow", "more please", "this made my day", "underrated")

FIRST_NAMES = (
    "Mia", "Leo", "Ava", "Noah", "Zoe", "Kai", "Lena", "Omar", "Ines", "Theo", "Yuki", "Ravi",
    "Nora", "Eli", "Sofia", "Milo", "Amara", "Jonas", "Priya", "Luca", "Hana", "Felix", "Iris",
    "Mateo", "Freya", "Sami", "Lila", "Arjun", "Elif", "Tomas", "Maya", "Ezra", "Nia", "Oscar",
    "Ayla", "Bruno", "Chloe", "Dario", "Esme", "Finn",
)  # fmt: skip
LAST_INITIALS = "ABCDEFGHJKLMNOPRSTVWZ"
# A creator's handle is a first name and one of these, by its main theme.
HANDLE_WORDS = {
    "cats": ("cats", "meows", "purrs"),
    "dogs": ("pups", "walks", "woofs"),
    "cooking": ("cooks", "kitchen", "eats"),
    "baking": ("bakes", "crumbs", "ovens"),
    "travel": ("travels", "roams", "maps"),
    "music": ("beats", "synths", "sounds"),
    "dance": ("moves", "dances", "grooves"),
    "diy": ("builds", "makes", "fixes"),
    "fitness": ("lifts", "runs", "moves"),
    "gaming": ("plays", "games", "runs"),
    "art": ("paints", "draws", "studio"),
    "science": ("explains", "labs", "wonders"),
    "nature": ("outdoors", "wilds", "trails"),
    "comedy": ("jokes", "laughs", "skits"),
    "fashion": ("styles", "fits", "thrifts"),
    "tech": ("codes", "builds", "setups"),
    "skate": ("skates", "rolls", "flips"),
    "garden": ("grows", "plants", "blooms"),
}
BIOS = (
    "{theme} every day. New video most evenings.",
    "Small {theme} channel, big feelings. Say hi!",
    "Sharing what I love about {theme}. Tips welcome.",
    "{theme} nerd. Made with a phone and too much coffee.",
    "Professional amateur at {theme}.",
)
