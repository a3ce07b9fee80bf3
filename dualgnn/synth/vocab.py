"""Word lists and category specs of the synthetic catalog (data only; the generator lives in ``dualgnn.synth.catalog``).

Every brand name is invented. A category is a leaf of the taxonomy; its spec says how many products it gets
(``share``), how they are priced, named and described, and whether each product is tied to a product of another
category (``compat``: a phone case is made *for* one phone model, a lens *for* one camera brand's mount). That tie
is written into the title, so the direction "phone -> its case" can be learned from text alone.

Templates are ``str.format`` strings over the fields ``brand``, ``model`` (the model label, e.g. "X12 Pro"),
``target`` (what an accessory fits, e.g. "Nexo X12 Pro"), ``noun`` (the category's product noun), ``a0``..``a2``
(one value drawn from each of ``attrs``) and ``num`` (a small number, 1..9).
"""

from __future__ import annotations

from dataclasses import dataclass

COLORS = ("Black", "White", "Midnight Blue", "Graphite", "Silver", "Forest Green", "Rose Gold", "Coral Red",
          "Sand Beige", "Lavender")


@dataclass(frozen=True)
class CategorySpec:
    """How to make the products of one leaf category.

    ``models``: ``(series, suffixes)`` for model-based categories; a model label is series + number + suffix
    ("X" + "12" + " Pro") or, with ``model_style="phrase"``, ``"The " + series + " " + suffix`` (book series).
    ``compat``: ``(primary category key, "model" | "brand")``; ``family_share`` of such products are made by the
    target's own brand (phone makers sell cases for their own phones). ``tiered``: the index of ``a0`` raises the
    price (more storage costs more).
    """

    key: str
    path: str
    share: float
    price: tuple[float, float]  # median price, standard deviation of log price
    brands: tuple[str, ...]
    noun: str
    title: str
    descriptions: tuple[str, ...]
    attrs: tuple[tuple[str, ...], ...] = ()
    models: tuple[tuple[str, ...], tuple[str, ...]] | None = None
    model_style: str = "code"
    compat: tuple[str, str] | None = None
    family_share: float = 0.0
    tiered: bool = False


def _c(key, path, share, price, brands, noun, title, descriptions, **kw) -> CategorySpec:
    return CategorySpec(key=key, path=path, share=share, price=price, brands=tuple(brands), noun=noun,
                        title=title, descriptions=tuple(descriptions), **kw)


_SIZES = ("13.3-inch", "14-inch", "15.6-inch", "16-inch")
_STORY_A = ("Shadows", "Echoes", "Secrets", "Ghosts", "Whispers", "Bones", "Ashes", "Storms", "Lies", "Embers")
_STORY_B = ("the Harbor", "the North Road", "the Glass Tower", "Blackwater", "the Old Mill", "Winter Hill",
            "the Drowned Bell", "Saltmarsh", "the Iron Gate", "Copper Lane")
_SPACE_A = ("Children", "Edge", "Light", "Heirs", "Silence", "Engines", "Gardens", "Fall", "Memory", "Orbit")
_SPACE_B = ("the Void", "Kepler's Reach", "a Dying Sun", "the Outer Belt", "Station Nine", "the Long Dark",
            "Tau Ceti", "the Ninth Moon", "the Ring", "Far Meridian")

#: Leaf categories. A ``compat`` category comes after the category it points to (the generator relies on it).
CATEGORIES: tuple[CategorySpec, ...] = (
    # --- Electronics: phones and what is bought after them
    _c("phones", "Electronics > Phones > Smartphones", 6, (420.0, 0.55),
       ("Nexo", "Lumina", "Orbitel", "Vantix", "Zephyra", "Kestrel"), "Smartphone",
       "{brand} {model} {a0} {noun}, {a1}, {a2}",
       ("The {brand} {model} pairs a {a1} display with {a0} of storage. Unlocked, dual SIM, all-day battery.",
        "Meet the {model}: a {a1} screen, a triple camera and {a0} for your photos. Colour: {a2}.",
        "{brand}'s {model} in {a2}. Fast charging, 5G and {a0} of storage."),
       attrs=(("64GB", "128GB", "256GB", "512GB"), ("6.1-inch", "6.5-inch", "6.7-inch"), COLORS),
       models=(("X", "Note ", "Edge ", "A", "S", "Flip "), ("", " Pro", " Max", " Lite", " Plus")), tiered=True),
    _c("cases", "Electronics > Phones > Accessories > Cases", 9, (14.0, 0.45),
       ("ArmorLine", "Shellwise", "Guardly", "Crystique", "Tortuga Gear"), "Phone Case",
       "{brand} {a0} Case for {target}, {a1}, {a2}",
       ("A {a0} case made for the {target}. {a1} protection with precise cut-outs for buttons and cameras.",
        "Designed for {target}: slim {a0} shell in {a2}, raised edges protect screen and lens."),
       attrs=(("Slim", "Rugged", "Clear", "Leather Wallet", "Silicone", "MagSafe-Compatible"),
              ("Shockproof", "Drop-Tested 10ft", "Anti-Yellowing", "Wireless-Charging Friendly"), COLORS),
       compat=("phones", "model"), family_share=0.25),
    _c("screen_protectors", "Electronics > Phones > Accessories > Screen Protectors", 5, (9.0, 0.35),
       ("ClearShield", "InvisiGlass", "Guardly"), "Screen Protector",
       "{brand} {a0} {noun} for {target}, {a1}, {num}-Pack",
       ("Tempered glass cut for the {target}. {a1}; bubble-free install with the alignment frame.",
        "{num} {a0} protectors for {target}, 9H hardness, case friendly."),
       attrs=(("Tempered Glass", "Privacy", "Matte Anti-Glare", "Hydrogel"),
              ("Case Friendly", "Easy Install Frame", "Full Coverage")),
       compat=("phones", "model"), family_share=0.1),
    _c("chargers", "Electronics > Phones > Accessories > Chargers", 5, (19.0, 0.45),
       ("Voltra", "Ampwise", "ChargeCo", "Powerlyn"), "Charger",
       "{brand} {a0} USB-C Fast {noun} for {target} Phones, {a1}",
       ("A {a0} wall charger tuned for {target} phones. {a1}, with overheat protection.",
        "Charge your {target} phone to 50% in 30 minutes. {a0}, compact foldable plug."),
       attrs=(("20W", "30W", "45W", "65W GaN"), ("6ft Cable Included", "Dual Port", "Foldable Plug")),
       compat=("phones", "brand"), family_share=0.3, tiered=True),
    _c("earbuds", "Electronics > Audio > Wireless Earbuds", 4, (59.0, 0.6),
       ("Sonique", "Auralis", "Tunebird", "Nexo", "Lumina"), "Wireless Earbuds",
       "{brand} {a0} {noun}, {a1}, {a2}",
       ("True wireless earbuds with {a1} and a pocket-size charging case.",
        "{brand} {a0} earbuds: {a1}, IPX4 sweat resistance, {num}0 hours with the case."),
       attrs=(("Air", "Pulse", "Studio", "Sport"), ("Active Noise Cancelling", "30h Battery", "Spatial Audio"),
              COLORS)),
    # --- Electronics: cameras
    _c("cameras", "Electronics > Cameras > Digital Cameras", 3, (780.0, 0.6),
       ("Kairo", "Optima", "Fennix", "Halcyon"), "Mirrorless Camera",
       "{brand} {model} {a0} {noun}, {a1}",
       ("The {brand} {model} is a {a0} mirrorless camera with {a1}. Weather-sealed body, dual card slots.",
        "Shoot stills and video with the {model}: {a0}, {a1}, in-body stabilisation."),
       attrs=(("24MP", "33MP", "45MP", "61MP"), ("4K60 Video", "Body Only", "with 28-70mm Kit Lens")),
       models=(("Z", "Alpha ", "R", "EOS-"), ("", " II", " III", " Mark IV")), tiered=True),
    _c("lenses", "Electronics > Cameras > Lenses", 4, (390.0, 0.7),
       ("Sigmora", "Tamberlane", "Vistar"), "Lens",
       "{brand} {a0} {a1} {noun} for {target} Mount",
       ("A {a0} {a1} lens for {target} mirrorless cameras. Quiet autofocus, nine-blade aperture.",
        "{a0} {a1} for {target}: sharp corner to corner, weather-sealed."),
       attrs=(("35mm", "50mm", "85mm", "24-70mm", "70-200mm", "100-400mm"), ("f/1.4", "f/1.8", "f/2.8", "f/4")),
       compat=("cameras", "brand"), family_share=0.45),
    _c("memory_cards", "Electronics > Cameras > Memory Cards", 3, (24.0, 0.55),
       ("DataVault", "Flashline", "SwiftByte"), "Memory Card",
       "{brand} {a0} {a1} {noun}, {a2}",
       ("{a0} {a1} card rated {a2}, for 4K video and burst shooting.",
        "Reliable {a1} storage: {a0}, shockproof, waterproof and X-ray proof."),
       attrs=(("64GB", "128GB", "256GB", "512GB"), ("SDXC", "CFexpress Type B", "microSDXC"),
              ("UHS-I V30", "UHS-II V90", "1700MB/s")), tiered=True),
    _c("tripods", "Electronics > Cameras > Tripods", 2, (79.0, 0.6),
       ("SteadyPod", "Trilux", "Gripstand"), "Tripod",
       "{brand} {a0} {noun}, {a1}, {num}-Section Legs",
       ("A {a0} tripod with {a1}; folds to fit a carry-on.",
        "{brand} {a0} travel tripod: {a1}, holds up to {num} kg."),
       attrs=(("Aluminium", "Carbon Fibre", "Mini Tabletop"), ("Ball Head", "Fluid Video Head", "Arca-Swiss Plate"))),
    _c("camera_bags", "Electronics > Cameras > Camera Bags", 2, (65.0, 0.5),
       ("Lowpack", "Trekline"), "Camera Bag",
       "{brand} {a0} {noun}, {a1}, {a2}",
       ("A {a0} bag with padded dividers for a body and {num} lenses. {a1}.",
        "{brand} {a0}: {a1}, quick side access, tripod straps."),
       attrs=(("Sling", "Backpack 20L", "Shoulder"), ("Water-Resistant", "Laptop Sleeve"), COLORS)),
    # --- Electronics: computers
    _c("laptops", "Electronics > Computers > Laptops", 3, (950.0, 0.5),
       ("Nexo", "Corvid", "Tessera", "Aeris", "Quillon"), "Laptop",
       "{brand} {model} {a0} {noun}, {a1} RAM, {a2}",
       ("The {brand} {model} is a {a0} laptop with {a1} of memory and a {a2}. Backlit keyboard, Wi-Fi 6E.",
        "Work anywhere with the {model}: {a0} display, {a1} RAM, {a2}, 14-hour battery."),
       attrs=(_SIZES, ("8GB", "16GB", "32GB", "64GB"), ("512GB SSD", "1TB SSD", "2TB SSD")),
       models=(("Book ", "Air ", "Pro ", "Slate "), ("", " Carbon", " Flex")), tiered=True),
    _c("laptop_bags", "Electronics > Computers > Accessories > Laptop Bags", 2, (45.0, 0.45),
       ("Trekline", "Urbanpack", "Corvid"), "Laptop Bag",
       "{brand} {a0} {noun} fits up to {a1} Laptops, {a2}",
       ("A {a0} bag with a padded sleeve for laptops up to {a1}. Water-resistant, luggage strap.",
        "{brand} {a0} for {a1} laptops, {num} pockets, in {a2}."),
       attrs=(("Backpack", "Messenger", "Sleeve", "Briefcase"), _SIZES, COLORS)),
    _c("mice", "Electronics > Computers > Accessories > Mice", 3, (29.0, 0.55),
       ("Clickr", "Glidepoint", "Corvid", "Nexo"), "Mouse",
       "{brand} {a0} Wireless {noun}, {a1}, {a2}",
       ("A {a0} mouse with {a1}; pairs with up to {num} devices.",
        "{brand} {a0}: quiet clicks, {a1}, USB-C rechargeable."),
       attrs=(("Ergonomic", "Compact Travel", "Vertical", "Gaming"), ("Bluetooth + 2.4GHz", "8000 DPI Sensor"),
              COLORS)),
    _c("usb_hubs", "Electronics > Computers > Accessories > USB-C Hubs", 2, (35.0, 0.5),
       ("Portly", "Hubbit", "Ampwise"), "USB-C Hub",
       "{brand} {a0} {noun} with {a1}",
       ("A {a0} hub adding {a1} to one USB-C port. Aluminium shell.",
        "{brand} {a0}: {a1}, 100W pass-through charging."),
       attrs=(("7-in-1", "9-in-1", "11-in-1"), ("4K HDMI", "Dual HDMI", "SD Card Reader", "Gigabit Ethernet"))),
    # --- Printers and office
    _c("printers", "Electronics > Printers > Inkjet Printers", 1.5, (160.0, 0.5),
       ("Inkwell", "Printara", "Dotmatic", "Pressa"), "Printer",
       "{brand} {model} {a0} {noun}, {a1}",
       ("The {brand} {model} {a0} printer prints, scans and copies. {a1}, mobile printing.",
        "{a0} {model} with {a1} and a {num}0-sheet tray."),
       attrs=(("All-in-One", "Photo", "Wireless"), ("Auto Duplex", "Wi-Fi Direct", "Borderless Photos")),
       models=(("OfficeJet ", "PixMa ", "Envy ", "EcoTank "), ("", "e", "w"))),
    _c("ink", "Office Products > Ink & Toner > Ink Cartridges", 3, (32.0, 0.5),
       ("RefillPro", "InkSaver"), "Ink Cartridge",
       "{brand} {a0} {noun} for {target}, {a1}",
       ("{a0} cartridge for the {target}. {a1}; chip included, prints up to {num}00 pages.",
        "Replacement ink for {target} printers: {a0}, {a1}."),
       attrs=(("Black", "Tri-Colour", "XL Black", "Combo Pack"), ("High Yield", "Standard Yield")),
       compat=("printers", "model"), family_share=0.6),
    _c("paper", "Office Products > Paper > Printer Paper", 1, (12.0, 0.4),
       ("BrightSheet", "Papyra"), "Printer Paper",
       "{brand} {a0} {noun}, {a1}, {num}00 Sheets",
       ("{a0} paper, {a1}, acid free for crisp prints.", "{num}00 sheets of {a0} {a1} paper."),
       attrs=(("Multipurpose", "Premium Bright", "Photo Glossy"), ("Letter Size", "A4", "20 lb"))),
    # --- Home & Kitchen
    _c("coffee_makers", "Home & Kitchen > Coffee > Coffee Makers", 2, (89.0, 0.6),
       ("Brewmaster", "Cafetto", "Percola", "Morning Ritual"), "Coffee Maker",
       "{brand} {model} {a0} {noun}, {a1}, {a2}",
       ("The {brand} {model} brews {a1} with a {a0} design. Keep-warm plate, auto shut-off.",
        "{a0} coffee maker, {a1}, programmable timer, in {a2}."),
       attrs=(("Drip", "Pour-Over", "Single-Serve", "Thermal Carafe"), ("12-Cup", "10-Cup", "Single Cup"),
              ("Stainless Steel", "Black", "White")),
       models=(("Brew ", "Aroma ", "Kettle ", "Mocha "), ("", " Plus", " Deluxe"))),
    _c("coffee_filters", "Home & Kitchen > Coffee > Coffee Filters", 1.5, (11.0, 0.4),
       ("PureBrew", "Filtra"), "Coffee Filter",
       "{brand} {a0} {noun}s for {target} Coffee Makers, {a1}",
       ("{a0} filters that fit {target} brewers. {a1}.", "Sized for {target} coffee makers: {a0}, {a1}."),
       attrs=(("Basket Paper", "Cone #4 Paper", "Reusable Mesh"), ("Unbleached", "200 Count", "Dishwasher Safe")),
       compat=("coffee_makers", "brand"), family_share=0.5),
    _c("descalers", "Home & Kitchen > Coffee > Descalers", 1, (14.0, 0.35),
       ("ScaleAway", "Limeless"), "Descaler",
       "{brand} {a0} {noun} for Coffee Machines, {num} Uses",
       ("Removes limescale from coffee makers and kettles. {a0}, biodegradable.",
        "{num} descaling treatments, {a0} formula, safe for all machines."),
       attrs=(("Liquid", "Tablet", "Powder"),)),
    _c("coffee_beans", "Grocery > Coffee > Whole Bean Coffee", 3, (15.0, 0.35),
       ("Highland Roasters", "Copper Kettle Coffee", "Dark Harbor Roast"), "Whole Bean Coffee",
       "{brand} {a0} {noun}, {a1}, 2 lb",
       ("{a0} beans, {a1}, roasted in small batches.", "A {a1} coffee from {a0} farms, {num}-day fresh roast."),
       attrs=(("Colombian", "Ethiopian", "Sumatra", "House Blend", "Espresso"),
              ("Medium Roast", "Dark Roast", "Light Roast"))),
    _c("pans", "Home & Kitchen > Cookware > Frying Pans", 2, (39.0, 0.6),
       ("Ironhearth", "Castellan", "Pantry Pro"), "Frying Pan",
       "{brand} {a0} {a1} {noun}, {a2}",
       ("A {a0} {a1} pan for everyday cooking; oven safe to 500F.", "{brand} {a1} {a0} skillet, {a2}."),
       attrs=(("8-inch", "10-inch", "12-inch"), ("Cast Iron", "Nonstick", "Stainless Steel", "Carbon Steel"),
              ("Induction Compatible", "Pre-Seasoned", "PFOA-Free"))),
    _c("spatulas", "Home & Kitchen > Kitchen Utensils > Spatulas", 1.5, (10.0, 0.4),
       ("Flipwell", "Silico"), "Spatula",
       "{brand} {a0} {noun} Set, {num} Pieces, {a1}",
       ("{a0} spatulas that will not scratch nonstick pans. {a1}.", "A set of {num} {a0} turners, {a1}."),
       attrs=(("Silicone", "Fish Slotted", "Wooden"), ("Heat Resistant 600F", "Dishwasher Safe"))),
    # --- Sports & Outdoors
    _c("bikes", "Sports & Outdoors > Cycling > Bikes", 2, (650.0, 0.6),
       ("Velocita", "Trailhawk", "Ridgeline", "Cadence Cycles"), "Bike",
       "{brand} {model} {a0} {noun}, {a1}, {a2}",
       ("The {brand} {model} is a {a0} bike with {a1}. Frame size {a2}.",
        "Ride further on the {model}: {a0} geometry, {a1}, hydraulic disc brakes."),
       attrs=(("Road", "Mountain", "Gravel", "Hybrid", "Electric"), ("21-Speed", "1x12 Drivetrain", "Belt Drive"),
              ("Small", "Medium", "Large")),
       models=(("Summit ", "Trail ", "Aero ", "Urban "), ("", " SL", " Comp"))),
    _c("helmets", "Sports & Outdoors > Cycling > Helmets", 2, (55.0, 0.5),
       ("SafeRide", "HeadGuard", "Ridgeline"), "Bike Helmet",
       "{brand} {a0} {noun}, {a1}, {a2}",
       ("A {a0} helmet with {a1} and 1{num} vents.", "{brand} {a0} helmet, {a1}, adjustable fit dial."),
       attrs=(("Road", "MTB", "Commuter"), ("MIPS", "Integrated Rear Light"), COLORS)),
    _c("bike_lights", "Sports & Outdoors > Cycling > Bike Lights", 1.5, (29.0, 0.5),
       ("BeamRider", "NightCycle", "Lumen Labs"), "Bike Light Set",
       "{brand} {a0} {noun}, {a1}",
       ("Front and rear lights, {a0}, {a1}.", "{brand} {a0} set: {a1}, {num} light modes."),
       attrs=(("800 Lumen", "400 Lumen", "1200 Lumen"), ("USB Rechargeable", "Waterproof IPX6"))),
    _c("bike_locks", "Sports & Outdoors > Cycling > Bike Locks", 1, (35.0, 0.5),
       ("LockSteady", "Shackle & Co"), "Bike Lock",
       "{brand} {a0} {noun}, {a1}",
       ("A {a0} lock with {a1}.", "{brand} {a0}: {a1}, frame mount included."),
       attrs=(("U-Lock", "Folding", "Chain"), ("Security Level 8/10", "Anti-Theft Rated", "2 Keys"))),
    _c("yoga_mats", "Sports & Outdoors > Fitness > Yoga Mats", 1.5, (32.0, 0.5),
       ("ZenFlow", "Asana Supply", "Lotus Leaf"), "Yoga Mat",
       "{brand} {a0} {noun}, {a1}, {a2}",
       ("A {a0} mat with {a1}.", "{brand} {a0} mat in {a2}: {a1}, carry strap included."),
       attrs=(("6mm", "4mm", "Extra Thick 10mm"), ("Non-Slip Texture", "Alignment Lines"), COLORS)),
    _c("yoga_blocks", "Sports & Outdoors > Fitness > Yoga Blocks", 1, (16.0, 0.4),
       ("ZenFlow", "CorkCraft"), "Yoga Block",
       "{brand} {a0} {noun}s, Set of 2, {a1}",
       ("Two {a0} blocks for support and alignment.", "{brand} {a0} blocks, {a1}."),
       attrs=(("Foam", "Cork", "Bamboo"), ("Lightweight", "Non-Slip"))),
    # --- Toys and batteries
    _c("rc_cars", "Toys & Games > Remote Control > RC Cars", 1.5, (49.0, 0.6),
       ("TurboToy", "RallyKid", "Dashbot"), "RC Car",
       "{brand} {a0} {noun}, {a1}, Ages {num}+",
       ("A {a0} remote control car, {a1}.", "{brand} {a0} RC truck: {a1}, all-terrain tyres."),
       attrs=(("1:16 Scale", "1:10 Scale", "Stunt"), ("2.4GHz Remote", "Waterproof", "30 km/h"))),
    _c("batteries", "Electronics > Batteries > Rechargeable Batteries", 2, (22.0, 0.45),
       ("EverCharge", "PowerCell", "Voltra"), "Rechargeable Batteries",
       "{brand} {a0} {noun}, {num}-Pack, {a1}",
       ("{num} {a0} batteries, {a1}, pre-charged.", "{brand} {a0} cells: {a1}, low self-discharge."),
       attrs=(("AA", "AAA", "9V"), ("2800mAh", "1000 Cycles"))),
    # --- Books: standalone; books of one series are bought together, both ways
    _c("mystery", "Books > Fiction > Mystery & Thrillers", 6, (14.0, 0.3),
       ("Harbor Press", "Nightjar Books", "Quill & Ink"), "Novel",
       "{a0} of {a1} ({model}, Book {num})",
       ("Book {num} of {model}: a detective returns to {a1}, where the past will not stay buried.",
        "A gripping mystery. When the {a0} of {a1} resurface, nobody is safe."),
       attrs=(_STORY_A, _STORY_B),
       models=(("Harbor", "Lantern", "Blackwood", "Raven", "Marsh", "Cold Case"), ("Files", "Mysteries", "Trilogy")),
       model_style="phrase"),
    _c("scifi", "Books > Fiction > Science Fiction", 5, (15.0, 0.3),
       ("Starfall Press", "Nightjar Books"), "Novel",
       "{a0} of {a1} ({model}, Book {num})",
       ("Book {num} of {model}. Humanity's last ship reaches {a1}.", "Space opera on a grand scale: {a0} of {a1}."),
       attrs=(_SPACE_A, _SPACE_B),
       models=(("Meridian", "Ember", "Void", "Helix", "Solace", "Drift"), ("Cycle", "Saga", "Sequence")),
       model_style="phrase"),
    _c("cookbooks", "Books > Cooking > Cookbooks", 3, (24.0, 0.3),
       ("Pantry Press", "Harbor Press"), "Cookbook",
       "{a0}: {num}00 {a1} Recipes",
       ("{num}00 {a1} recipes for weeknights and weekends.", "From the {a0} kitchen: {a1} cooking made simple."),
       attrs=(("Salt & Smoke", "The Weeknight Table", "Simply Vegetables", "One Pan"),
              ("Easy", "Vegetarian", "Mediterranean", "Quick"))),
)

#: The planted truth: primary category -> (complement category, share of its complement purchases).
#: Co-purchase runs primary -> complement and never back.
COMPLEMENTS: dict[str, tuple[tuple[str, float], ...]] = {
    "phones": (("cases", 0.4), ("screen_protectors", 0.25), ("chargers", 0.2), ("earbuds", 0.15)),
    "cameras": (("lenses", 0.35), ("memory_cards", 0.3), ("tripods", 0.2), ("camera_bags", 0.15)),
    "laptops": (("laptop_bags", 0.4), ("mice", 0.4), ("usb_hubs", 0.2)),
    "printers": (("ink", 0.7), ("paper", 0.3)),
    "coffee_makers": (("coffee_filters", 0.4), ("coffee_beans", 0.4), ("descalers", 0.2)),
    "pans": (("spatulas", 1.0),),
    "bikes": (("helmets", 0.4), ("bike_lights", 0.35), ("bike_locks", 0.25)),
    "yoga_mats": (("yoga_blocks", 1.0),),
    "rc_cars": (("batteries", 1.0),),
}

#: Closing sentences appended to some descriptions, as shops do.
GENERIC_SENTENCES = ("Backed by a 1-year limited warranty.", "Ships in recyclable packaging.",
                     "A customer favourite.", "Free returns within 30 days.", "Includes a quick-start guide.",
                     "Designed in-house and tested for durability.")
