//! Languages the bot understands.
//!
//! [`LANGUAGES`] is a static table of the ~100 languages commonly offered by DeepL, Google Translate and
//! LibreTranslate (every one with an ISO 639-1 code), each with its ISO 639-1 and ISO 639-3 codes, English
//! name, autonym and a few other English names people type.
//!
//! [`Lang::lookup`] resolves what a user typed (code, name, autonym or alias; case-, whitespace- and
//! accent-insensitive; region/script tags such as `pt-BR` map to the base language), and
//! [`Lang::suggest`] offers "did you mean" candidates for typos. The command parser and the
//! translation providers use these to turn user input into a language.
//!
//! Callers parsing free text must be careful: several codes are also common words (`it`, `no`, `de`,
//! `es`, `is`, `be`, `am`, `so`, `hi`, `my`, and ISO 639-3 codes such as `cat`, `hat`, `sun`, `nor`) and
//! resolve to a language. Odia (`or`) is deliberately left out so that "or" never resolves.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

/// Longest input [`Lang::suggest`] considers, in characters.
const MAX_SUGGEST_INPUT: usize = 48;

/// One language: its codes and the names it is known by.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Lang {
    /// ISO 639-1 code, lowercase, e.g. `"es"`.
    pub code: &'static str,
    /// ISO 639-3 code (639-2/T where that is the common one), e.g. `"spa"`.
    pub code3: &'static str,
    /// English name, e.g. `"Spanish"`.
    pub name: &'static str,
    /// The language's own name in its own script, e.g. `"español"`, `"日本語"`.
    pub native: &'static str,
    /// Other English names people type, lowercase, e.g. `"castilian"`.
    pub aliases: &'static [&'static str],
}

const fn l(
    code: &'static str,
    code3: &'static str,
    name: &'static str,
    native: &'static str,
    aliases: &'static [&'static str],
) -> Lang {
    Lang {
        code,
        code3,
        name,
        native,
        aliases,
    }
}

/// All languages the bot understands, sorted by English name.
pub static LANGUAGES: &[Lang] = &[
    l("af", "afr", "Afrikaans", "Afrikaans", &[]),
    l("sq", "sqi", "Albanian", "shqip", &[]),
    l("am", "amh", "Amharic", "አማርኛ", &[]),
    l("ar", "ara", "Arabic", "العربية", &[]),
    l("hy", "hye", "Armenian", "հայերեն", &[]),
    l("az", "aze", "Azerbaijani", "azərbaycan dili", &["azeri"]),
    l("eu", "eus", "Basque", "euskara", &[]),
    l(
        "be",
        "bel",
        "Belarusian",
        "беларуская",
        &["belarusan", "belorussian", "byelorussian"],
    ),
    l("bn", "ben", "Bengali", "বাংলা", &["bangla"]),
    l("bs", "bos", "Bosnian", "bosanski", &[]),
    l("bg", "bul", "Bulgarian", "български", &[]),
    l("my", "mya", "Burmese", "မြန်မာ", &["myanmar"]),
    l("ca", "cat", "Catalan", "català", &["valencian"]),
    l("ny", "nya", "Chichewa", "Chicheŵa", &["nyanja", "chewa"]),
    l(
        "zh",
        "zho",
        "Chinese",
        "中文",
        &[
            "mandarin",
            "mandarin chinese",
            "simplified chinese",
            "chinese simplified",
            "traditional chinese",
            "chinese traditional",
        ],
    ),
    l("co", "cos", "Corsican", "corsu", &[]),
    l("hr", "hrv", "Croatian", "hrvatski", &[]),
    l("cs", "ces", "Czech", "čeština", &[]),
    l("da", "dan", "Danish", "dansk", &[]),
    l("nl", "nld", "Dutch", "Nederlands", &["flemish"]),
    l("en", "eng", "English", "English", &[]),
    l("eo", "epo", "Esperanto", "Esperanto", &[]),
    l("et", "est", "Estonian", "eesti", &[]),
    l(
        "tl",
        "tgl",
        "Filipino",
        "Filipino",
        &["tagalog", "pilipino"],
    ),
    l("fi", "fin", "Finnish", "suomi", &[]),
    l("fr", "fra", "French", "français", &[]),
    l(
        "fy",
        "fry",
        "Frisian",
        "Frysk",
        &["west frisian", "western frisian"],
    ),
    l("gl", "glg", "Galician", "galego", &[]),
    l("ka", "kat", "Georgian", "ქართული", &[]),
    l("de", "deu", "German", "Deutsch", &[]),
    l("el", "ell", "Greek", "ελληνικά", &["modern greek"]),
    l("gu", "guj", "Gujarati", "ગુજરાતી", &[]),
    l(
        "ht",
        "hat",
        "Haitian Creole",
        "kreyòl ayisyen",
        &["haitian"],
    ),
    l("ha", "hau", "Hausa", "Hausa", &[]),
    l("he", "heb", "Hebrew", "עברית", &[]),
    l("hi", "hin", "Hindi", "हिन्दी", &[]),
    l("hu", "hun", "Hungarian", "magyar", &[]),
    l("is", "isl", "Icelandic", "íslenska", &[]),
    l("ig", "ibo", "Igbo", "Asụsụ Igbo", &[]),
    l("id", "ind", "Indonesian", "Bahasa Indonesia", &[]),
    l("ga", "gle", "Irish", "Gaeilge", &["irish gaelic"]),
    l("it", "ita", "Italian", "italiano", &[]),
    l("ja", "jpn", "Japanese", "日本語", &[]),
    l("jv", "jav", "Javanese", "Basa Jawa", &[]),
    l("kn", "kan", "Kannada", "ಕನ್ನಡ", &[]),
    l("kk", "kaz", "Kazakh", "қазақ тілі", &[]),
    l("km", "khm", "Khmer", "ខ្មែរ", &["cambodian", "central khmer"]),
    l("rw", "kin", "Kinyarwanda", "Ikinyarwanda", &[]),
    l("ko", "kor", "Korean", "한국어", &[]),
    l("ku", "kur", "Kurdish", "Kurdî", &["kurmanji"]),
    l("ky", "kir", "Kyrgyz", "кыргызча", &["kirghiz", "kirgiz"]),
    l("lo", "lao", "Lao", "ລາວ", &["laotian"]),
    l("la", "lat", "Latin", "Latina", &[]),
    l("lv", "lav", "Latvian", "latviešu", &[]),
    l("lt", "lit", "Lithuanian", "lietuvių", &[]),
    l(
        "lb",
        "ltz",
        "Luxembourgish",
        "Lëtzebuergesch",
        &["letzeburgesch"],
    ),
    l("mk", "mkd", "Macedonian", "македонски", &[]),
    l("mg", "mlg", "Malagasy", "Malagasy", &[]),
    l(
        "ms",
        "msa",
        "Malay",
        "Bahasa Melayu",
        &["malaysian", "bahasa malaysia"],
    ),
    l("ml", "mal", "Malayalam", "മലയാളം", &[]),
    l("mt", "mlt", "Maltese", "Malti", &[]),
    l("mi", "mri", "Maori", "te reo Māori", &["māori"]),
    l("mr", "mar", "Marathi", "मराठी", &[]),
    l("mn", "mon", "Mongolian", "монгол", &[]),
    l("ne", "nep", "Nepali", "नेपाली", &["nepalese"]),
    l(
        "no",
        "nor",
        "Norwegian",
        "norsk",
        &["norwegian bokmål", "norwegian bokmal", "bokmål", "bokmal"],
    ),
    l("ps", "pus", "Pashto", "پښتو", &["pushto"]),
    l("fa", "fas", "Persian", "فارسی", &["farsi"]),
    l("pl", "pol", "Polish", "polski", &[]),
    l(
        "pt",
        "por",
        "Portuguese",
        "português",
        &["brazilian portuguese", "european portuguese"],
    ),
    l("pa", "pan", "Punjabi", "ਪੰਜਾਬੀ", &["panjabi"]),
    l(
        "ro",
        "ron",
        "Romanian",
        "română",
        &["moldovan", "moldavian"],
    ),
    l("ru", "rus", "Russian", "русский", &[]),
    l("sm", "smo", "Samoan", "Gagana Samoa", &[]),
    l(
        "gd",
        "gla",
        "Scottish Gaelic",
        "Gàidhlig",
        &["scots gaelic"],
    ),
    l("sr", "srp", "Serbian", "српски", &[]),
    l(
        "st",
        "sot",
        "Sesotho",
        "Sesotho",
        &["southern sotho", "sotho"],
    ),
    l("sn", "sna", "Shona", "chiShona", &[]),
    l("sd", "snd", "Sindhi", "سنڌي", &[]),
    l("si", "sin", "Sinhala", "සිංහල", &["sinhalese"]),
    l("sk", "slk", "Slovak", "slovenčina", &[]),
    l("sl", "slv", "Slovenian", "slovenščina", &["slovene"]),
    l("so", "som", "Somali", "Soomaali", &[]),
    l(
        "es",
        "spa",
        "Spanish",
        "español",
        &["castilian", "castellano"],
    ),
    l("su", "sun", "Sundanese", "Basa Sunda", &[]),
    l("sw", "swa", "Swahili", "Kiswahili", &[]),
    l("sv", "swe", "Swedish", "svenska", &[]),
    l("tg", "tgk", "Tajik", "тоҷикӣ", &["tajiki"]),
    l("ta", "tam", "Tamil", "தமிழ்", &[]),
    l("tt", "tat", "Tatar", "татар теле", &[]),
    l("te", "tel", "Telugu", "తెలుగు", &[]),
    l("th", "tha", "Thai", "ไทย", &[]),
    l("tr", "tur", "Turkish", "Türkçe", &[]),
    l("tk", "tuk", "Turkmen", "Türkmen dili", &[]),
    l("uk", "ukr", "Ukrainian", "українська", &[]),
    l("ur", "urd", "Urdu", "اردو", &[]),
    l("ug", "uig", "Uyghur", "ئۇيغۇرچە", &["uighur", "uygur"]),
    l("uz", "uzb", "Uzbek", "oʻzbekcha", &[]),
    l("vi", "vie", "Vietnamese", "Tiếng Việt", &[]),
    l("cy", "cym", "Welsh", "Cymraeg", &[]),
    l("xh", "xho", "Xhosa", "isiXhosa", &[]),
    l("yi", "yid", "Yiddish", "ייִדיש", &[]),
    l("yo", "yor", "Yoruba", "Èdè Yorùbá", &[]),
    l("zu", "zul", "Zulu", "isiZulu", &[]),
];

/// Other codes accepted for a language: `(alternative, canonical ISO 639-1 code)`.
/// `nb`/`nob` are Norwegian Bokmål (what DeepL and LibreTranslate call Norwegian), `fil` is the
/// ISO 639-2/3 code for Filipino, `iw` the withdrawn Hebrew code Google still uses.
const ALT_CODES: &[(&str, &str)] = &[("nb", "no"), ("nob", "no"), ("fil", "tl"), ("iw", "he")];

/// Flag emoji people use for a language: `(region, ISO 639-1 code)`. A region is an ISO 3166-1
/// alpha-2 code (a pair of regional-indicator symbols) or an ISO 3166-2 subdivision such as
/// `gb-wls` (a black-flag tag sequence). Only regions with one clear main language are listed;
/// multilingual ones (Belgium, Switzerland, Canada, India's other languages, ...) are left out.
const FLAG_REGIONS: &[(&str, &str)] = &[
    ("ad", "ca"),
    ("ae", "ar"),
    ("al", "sq"),
    ("am", "hy"),
    ("ao", "pt"),
    ("ar", "es"),
    ("at", "de"),
    ("au", "en"),
    ("az", "az"),
    ("ba", "bs"),
    ("bd", "bn"),
    ("bg", "bg"),
    ("br", "pt"),
    ("by", "be"),
    ("cl", "es"),
    ("cn", "zh"),
    ("co", "es"),
    ("cu", "es"),
    ("cz", "cs"),
    ("de", "de"),
    ("dk", "da"),
    ("dz", "ar"),
    ("ee", "et"),
    ("eg", "ar"),
    ("es", "es"),
    ("et", "am"),
    ("fi", "fi"),
    ("fr", "fr"),
    ("gb", "en"),
    ("gb-sct", "gd"),
    ("gb-wls", "cy"),
    ("ge", "ka"),
    ("gr", "el"),
    ("hk", "zh"),
    ("hr", "hr"),
    ("ht", "ht"),
    ("hu", "hu"),
    ("id", "id"),
    ("ie", "ga"),
    ("il", "he"),
    ("in", "hi"),
    ("iq", "ar"),
    ("ir", "fa"),
    ("is", "is"),
    ("it", "it"),
    ("jo", "ar"),
    ("jp", "ja"),
    ("ke", "sw"),
    ("kg", "ky"),
    ("kh", "km"),
    ("kp", "ko"),
    ("kr", "ko"),
    ("kz", "kk"),
    ("la", "lo"),
    ("lk", "si"),
    ("ls", "st"),
    ("lt", "lt"),
    ("lu", "lb"),
    ("lv", "lv"),
    ("ma", "ar"),
    ("md", "ro"),
    ("mg", "mg"),
    ("mk", "mk"),
    ("mm", "my"),
    ("mn", "mn"),
    ("mt", "mt"),
    ("mw", "ny"),
    ("mx", "es"),
    ("my", "ms"),
    ("mz", "pt"),
    ("nl", "nl"),
    ("no", "no"),
    ("np", "ne"),
    ("nz", "en"),
    ("pe", "es"),
    ("ph", "tl"),
    ("pk", "ur"),
    ("pl", "pl"),
    ("pt", "pt"),
    ("ro", "ro"),
    ("rs", "sr"),
    ("ru", "ru"),
    ("rw", "rw"),
    ("sa", "ar"),
    ("se", "sv"),
    ("si", "sl"),
    ("sk", "sk"),
    ("so", "so"),
    ("th", "th"),
    ("tj", "tg"),
    ("tm", "tk"),
    ("tn", "ar"),
    ("tr", "tr"),
    ("tw", "zh"),
    ("tz", "sw"),
    ("ua", "uk"),
    ("us", "en"),
    ("uy", "es"),
    ("uz", "uz"),
    ("ve", "es"),
    ("vn", "vi"),
    ("ws", "sm"),
];

/// The flag [`Lang::flag`] shows for a language: `(ISO 639-1 code, region)`, each region also in
/// [`FLAG_REGIONS`] for that language. Languages without one clear country have none.
const DISPLAY_FLAGS: &[(&str, &str)] = &[
    ("am", "et"),
    ("ar", "sa"),
    ("az", "az"),
    ("be", "by"),
    ("bg", "bg"),
    ("bn", "bd"),
    ("bs", "ba"),
    ("ca", "ad"),
    ("cs", "cz"),
    ("cy", "gb-wls"),
    ("da", "dk"),
    ("de", "de"),
    ("el", "gr"),
    ("en", "gb"),
    ("es", "es"),
    ("et", "ee"),
    ("fa", "ir"),
    ("fi", "fi"),
    ("fr", "fr"),
    ("ga", "ie"),
    ("gd", "gb-sct"),
    ("he", "il"),
    ("hi", "in"),
    ("hr", "hr"),
    ("ht", "ht"),
    ("hu", "hu"),
    ("hy", "am"),
    ("id", "id"),
    ("is", "is"),
    ("it", "it"),
    ("ja", "jp"),
    ("ka", "ge"),
    ("kk", "kz"),
    ("km", "kh"),
    ("ko", "kr"),
    ("ky", "kg"),
    ("lb", "lu"),
    ("lo", "la"),
    ("lt", "lt"),
    ("lv", "lv"),
    ("mg", "mg"),
    ("mk", "mk"),
    ("mn", "mn"),
    ("ms", "my"),
    ("mt", "mt"),
    ("my", "mm"),
    ("ne", "np"),
    ("nl", "nl"),
    ("no", "no"),
    ("ny", "mw"),
    ("pl", "pl"),
    ("pt", "pt"),
    ("ro", "ro"),
    ("ru", "ru"),
    ("rw", "rw"),
    ("si", "lk"),
    ("sk", "sk"),
    ("sl", "si"),
    ("sm", "ws"),
    ("so", "so"),
    ("sq", "al"),
    ("sr", "rs"),
    ("st", "ls"),
    ("sv", "se"),
    ("sw", "ke"),
    ("tg", "tj"),
    ("th", "th"),
    ("tk", "tm"),
    ("tl", "ph"),
    ("tr", "tr"),
    ("uk", "ua"),
    ("ur", "pk"),
    ("uz", "uz"),
    ("vi", "vn"),
    ("zh", "cn"),
];

/// Regional indicator symbol letter A (U+1F1E6); the others follow in order.
const REGIONAL_A: u32 = 0x1F1E6;
/// Waving black flag (U+1F3F4), which starts a subdivision flag.
const BLACK_FLAG: char = '\u{1F3F4}';
/// Tag characters (U+E0020..U+E007E) spell a subdivision after the black flag.
const TAG_BASE: u32 = 0xE0000;
/// Cancel tag (U+E007F), which ends a subdivision flag.
const CANCEL_TAG: char = '\u{E007F}';

/// The emoji for a region of [`FLAG_REGIONS`] (`"es"` -> 🇪🇸, `"gb-wls"` -> 🏴󠁧󠁢󠁷󠁬󠁳󠁿).
fn flag_emoji(region: &str) -> String {
    if region.len() == 2 {
        region
            .bytes()
            .filter_map(|b| char::from_u32(REGIONAL_A + u32::from(b.saturating_sub(b'a'))))
            .collect()
    } else {
        std::iter::once(BLACK_FLAG)
            .chain(
                region
                    .bytes()
                    .filter(|b| *b != b'-')
                    .filter_map(|b| char::from_u32(TAG_BASE + u32::from(b))),
            )
            .chain(std::iter::once(CANCEL_TAG))
            .collect()
    }
}

/// Flag emoji -> language.
static FLAGS: LazyLock<HashMap<String, &'static Lang>> = LazyLock::new(|| {
    FLAG_REGIONS
        .iter()
        .filter_map(|(region, code)| Some((flag_emoji(region), by_any_code(code)?)))
        .collect()
});

/// ISO 639-1 code -> the flag shown for it.
static DISPLAY: LazyLock<HashMap<&'static str, String>> = LazyLock::new(|| {
    DISPLAY_FLAGS
        .iter()
        .map(|(code, region)| (*code, flag_emoji(region)))
        .collect()
});

fn is_regional_indicator(c: char) -> bool {
    (REGIONAL_A..REGIONAL_A + 26).contains(&u32::from(c))
}

/// Splits a run of flag emoji (`🇪🇸🇫🇷`, `🇪🇸 🇫🇷`) into the flags; `None` if anything else is
/// in it or it is empty.
fn split_flags(input: &str) -> Option<Vec<&str>> {
    let mut flags = Vec::new();
    let mut rest = input.trim_start();
    while !rest.is_empty() {
        let mut chars = rest.chars();
        let first = chars.next()?;
        let len = if is_regional_indicator(first) {
            let second = chars.next().filter(|c| is_regional_indicator(*c))?;
            first.len_utf8() + second.len_utf8()
        } else if first == BLACK_FLAG {
            let mut len = first.len_utf8();
            loop {
                let c = chars.next()?;
                len += c.len_utf8();
                if c == CANCEL_TAG {
                    break;
                }
                if !(TAG_BASE + 0x20..TAG_BASE + 0x7F).contains(&u32::from(c)) {
                    return None;
                }
            }
            len
        } else {
            return None;
        };
        let (flag, after) = rest.split_at(len);
        flags.push(flag);
        // An emoji presentation selector may follow a flag.
        rest = after.trim_start_matches('\u{FE0F}').trim_start();
    }
    (!flags.is_empty()).then_some(flags)
}

/// Trailing characters ignored by [`Lang::lookup`] (besides whitespace).
const TRAILING_PUNCT: &[char] = &[
    '.', ',', '!', '?', ';', ':', '。', '，', '！', '？', '；', '：', '؟', '،',
];

/// Minimum similarity (normalized Damerau-Levenshtein, 0..=1) for [`Lang::suggest`].
const SUGGEST_THRESHOLD: f64 = 0.7;

/// Every lowercase key a language is known by (codes, names, autonym, aliases), plus accent-folded forms.
static INDEX: LazyLock<HashMap<String, &'static Lang>> = LazyLock::new(|| {
    let mut index = HashMap::new();
    for lang in LANGUAGES {
        for key in exact_keys(lang) {
            index.entry(key).or_insert(lang);
        }
    }
    for (alt, canonical) in ALT_CODES {
        if let Some(lang) = LANGUAGES.iter().find(|lang| lang.code == *canonical) {
            index.entry((*alt).to_string()).or_insert(lang);
        }
    }
    // Folded forms last, so they never shadow an exact key.
    for lang in LANGUAGES {
        for name in names(lang) {
            index.entry(fold(&name)).or_insert(lang);
        }
    }
    index
});

/// Every language's lowercased names with their folded forms, computed once for [`Lang::suggest`].
/// A language's names, each as (lowercased, folded).
type NameForms = Vec<(String, String)>;

static SUGGEST_NAMES: LazyLock<Vec<(&'static Lang, NameForms)>> = LazyLock::new(|| {
    LANGUAGES
        .iter()
        .map(|lang| {
            let names = names(lang)
                .map(|n| (fold(&n), n))
                .map(|(f, n)| (n, f))
                .collect();
            (lang, names)
        })
        .collect()
});

/// 1 for equal strings, 0 for nothing in common: edit distance counting adjacent swaps as one
/// edit (optimal string alignment), relative to the longer string.
fn similarity(a: &str, b: &str) -> f64 {
    let longest = a.chars().count().max(b.chars().count());
    if longest == 0 {
        return 1.0;
    }
    1.0 - strsim::osa_distance(a, b) as f64 / longest as f64
}

/// Lowercased English name, autonym and aliases.
fn names(lang: &Lang) -> impl Iterator<Item = String> {
    [lang.name, lang.native]
        .into_iter()
        .chain(lang.aliases.iter().copied())
        .map(str::to_lowercase)
}

/// Lowercased codes, names and aliases, without folding.
fn exact_keys(lang: &'static Lang) -> impl Iterator<Item = String> {
    [lang.code.to_string(), lang.code3.to_string()]
        .into_iter()
        .chain(names(lang))
}

/// Trim, drop trailing punctuation, collapse inner whitespace and lowercase; `None` if nothing is left.
fn normalize(input: &str) -> Option<String> {
    let trimmed = input
        .trim_start()
        .trim_end_matches(|c: char| c.is_whitespace() || TRAILING_PUNCT.contains(&c));
    let collapsed = trimmed.split_whitespace().collect::<Vec<_>>().join(" ");
    (!collapsed.is_empty()).then(|| collapsed.to_lowercase())
}

/// Strip common Latin diacritics and apostrophes from lowercase text ("español" -> "espanol").
fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let base = match c {
            'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' | 'ā' | 'ă' | 'ą' | 'ạ' | 'ả' | 'ấ' | 'ầ' | 'ẩ'
            | 'ẫ' | 'ậ' | 'ắ' | 'ằ' | 'ẳ' | 'ẵ' | 'ặ' => 'a',
            'ç' | 'ć' | 'č' => 'c',
            'ď' | 'đ' => 'd',
            'é' | 'è' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' | 'ə' | 'ẹ' | 'ẻ' | 'ẽ' | 'ế' | 'ề'
            | 'ể' | 'ễ' | 'ệ' => 'e',
            'ğ' => 'g',
            'í' | 'ì' | 'î' | 'ï' | 'ī' | 'į' | 'ı' | 'ỉ' | 'ị' => 'i',
            'ĺ' | 'ľ' | 'ł' => 'l',
            'ñ' | 'ń' | 'ň' => 'n',
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' | 'ō' | 'ő' | 'ơ' | 'ọ' | 'ỏ' | 'ố' | 'ồ' | 'ổ'
            | 'ỗ' | 'ộ' | 'ớ' | 'ờ' | 'ở' | 'ỡ' | 'ợ' => 'o',
            'ŕ' | 'ř' => 'r',
            'ś' | 'š' | 'ş' | 'ș' => 's',
            'ť' | 'ţ' | 'ț' => 't',
            'ú' | 'ù' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' | 'ư' | 'ụ' | 'ủ' | 'ứ' | 'ừ' | 'ử'
            | 'ữ' | 'ự' => 'u',
            'ŵ' => 'w',
            'ý' | 'ÿ' | 'ỳ' | 'ỵ' | 'ỷ' | 'ỹ' => 'y',
            'ź' | 'ż' | 'ž' => 'z',
            'ß' => {
                out.push_str("ss");
                continue;
            }
            '\'' | 'ʻ' | 'ʼ' | '‘' | '’' => continue,
            other => other,
        };
        out.push(base);
    }
    out
}

/// The language whose ISO 639-1/639-3 code (or an [`ALT_CODES`] entry) is `code` (lowercase).
fn by_any_code(code: &str) -> Option<&'static Lang> {
    let canonical = ALT_CODES
        .iter()
        .find(|(alt, _)| *alt == code)
        .map_or(code, |(_, canonical)| canonical);
    LANGUAGES
        .iter()
        .find(|lang| lang.code == canonical || lang.code3 == canonical)
}

/// `pt-br`, `zh_hant`, `sr-latn-rs` -> the base code, if the input is shaped like a BCP 47 tag.
fn tag_base(input: &str) -> Option<&str> {
    let mut parts = input.split(['-', '_']);
    let base = parts.next()?;
    let base_ok = (2..=3).contains(&base.len()) && base.bytes().all(|b| b.is_ascii_lowercase());
    let mut rest = parts.peekable();
    let rest_ok = rest.peek().is_some()
        && rest.all(|sub| {
            (1..=8).contains(&sub.len()) && sub.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    (base_ok && rest_ok).then_some(base)
}

impl Lang {
    /// Resolve what a user typed: ISO 639-1 code, ISO 639-3 code, English name, native name or alias,
    /// case-insensitively (Unicode lowercase) and, as a fallback, ignoring Latin diacritics
    /// ("espanol", "francais"). Surrounding whitespace and trailing punctuation (`.,!?;:` and their
    /// full-width/Arabic forms) are ignored, and inner runs of whitespace count as one space.
    /// Region/script tags map to the base language: "pt-BR", "pt_br", "zh-TW", "zh-Hans", "en-US".
    /// Also accepts `nb`/`nob` (Norwegian), `fil` (Filipino) and `iw` (Hebrew).
    /// Returns `None` for anything else, including the empty string.
    pub fn lookup(input: &str) -> Option<&'static Lang> {
        let key = normalize(input)?;
        if let Some(lang) = INDEX.get(&key).or_else(|| INDEX.get(&fold(&key))) {
            return Some(lang);
        }
        if let Some(lang) = tag_base(&key).and_then(by_any_code) {
            return Some(lang);
        }
        match Lang::from_flags(&key)?.as_slice() {
            [lang] => Some(lang),
            _ => None,
        }
    }

    /// The languages of a run of flag emoji, in order (`"🇪🇸🇫🇷"`, `"🇯🇵 🇩🇪"` -> Spanish,
    /// French; Japanese, German): each flag stands for its country's main language (🇧🇷 and 🇵🇹
    /// for Portuguese, 🇺🇸 and 🇬🇧 for English, 🏴󠁧󠁢󠁷󠁬󠁳󠁿 for Welsh). `None` unless the input is
    /// nothing but known flags (and whitespace).
    pub fn from_flags(input: &str) -> Option<Vec<&'static Lang>> {
        split_flags(input)?
            .into_iter()
            .map(|flag| FLAGS.get(flag).copied())
            .collect()
    }

    /// A representative flag emoji for showing the language (es -> 🇪🇸, en -> 🇬🇧, pt -> 🇵🇹,
    /// zh -> 🇨🇳, ar -> 🇸🇦, hi -> 🇮🇳); `None` for languages with no single country
    /// (Esperanto, Latin, Basque, Tamil, ...). [`Lang::lookup`] maps every such flag back.
    pub fn flag(&self) -> Option<&'static str> {
        DISPLAY.get(self.code).map(String::as_str)
    }

    /// The language with exactly this ISO 639-1 code, case-insensitively (`nb` and `iw` included).
    pub fn from_code(code: &str) -> Option<&'static Lang> {
        if code.len() != 2 {
            return None;
        }
        by_any_code(&code.to_ascii_lowercase())
    }

    /// Up to `max` languages whose English name, native name or alias is closest to `input` (a typo such
    /// as "spansh"), best first, without duplicates. Similarity is normalized Damerau-Levenshtein
    /// (on both the raw and the accent-folded forms), at least 0.7; Jaro-Winkler breaks ties.
    /// Input far from every name ("klingon", "xyzzy") gives an empty `Vec`.
    pub fn suggest(input: &str, max: usize) -> Vec<&'static Lang> {
        // No language name is this long; and the cost below grows with the input's length.
        if input.chars().count() > MAX_SUGGEST_INPUT {
            return Vec::new();
        }
        let Some(key) = normalize(input) else {
            return Vec::new();
        };
        let folded = fold(&key);
        let mut scored: Vec<(f64, f64, &'static Lang)> = Vec::new();
        for (lang, names) in SUGGEST_NAMES.iter() {
            let mut best = (0.0_f64, 0.0_f64);
            for (name, name_folded) in names {
                let score = similarity(&key, name).max(similarity(&folded, name_folded));
                if score < SUGGEST_THRESHOLD && score <= best.0 {
                    continue;
                }
                let tie = strsim::jaro_winkler(&folded, name_folded);
                if (score, tie) > best {
                    best = (score, tie);
                }
            }
            if best.0 >= SUGGEST_THRESHOLD {
                scored.push((best.0, best.1, lang));
            }
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.total_cmp(&a.1)));
        scored
            .into_iter()
            .take(max)
            .map(|(_, _, lang)| lang)
            .collect()
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn code_of(input: &str) -> Option<&'static str> {
        Lang::lookup(input).map(|lang| lang.code)
    }

    #[test]
    fn lookup_by_iso_639_1_code() {
        for (input, code) in [
            ("es", "es"),
            ("DE", "de"),
            ("Ja", "ja"),
            ("he", "he"),
            ("id", "id"),
            ("yi", "yi"),
            ("zh", "zh"),
            ("fa", "fa"),
            ("ms", "ms"),
            ("no", "no"),
            ("tl", "tl"),
            ("it", "it"),
        ] {
            assert_eq!(code_of(input), Some(code), "input {input:?}");
        }
    }

    #[test]
    fn lookup_by_iso_639_3_code() {
        for (input, code) in [
            ("spa", "es"),
            ("DEU", "de"),
            ("jpn", "ja"),
            ("heb", "he"),
            ("zho", "zh"),
            ("fas", "fa"),
            ("tgl", "tl"),
            ("yid", "yi"),
            ("nor", "no"),
        ] {
            assert_eq!(code_of(input), Some(code), "input {input:?}");
        }
    }

    #[test]
    fn lookup_alternative_codes() {
        for (input, code) in [
            ("nb", "no"),
            ("NB", "no"),
            ("nob", "no"),
            ("fil", "tl"),
            ("iw", "he"),
        ] {
            assert_eq!(code_of(input), Some(code), "input {input:?}");
        }
    }

    #[test]
    fn lookup_by_english_name() {
        for (input, code) in [
            ("Spanish", "es"),
            ("german", "de"),
            ("JAPANESE", "ja"),
            ("Haitian Creole", "ht"),
            ("  haitian \t creole ", "ht"),
            ("Scottish Gaelic", "gd"),
            ("Persian", "fa"),
        ] {
            assert_eq!(code_of(input), Some(code), "input {input:?}");
        }
    }

    #[test]
    fn lookup_by_native_name() {
        for (input, code) in [
            ("ESPAÑOL", "es"),
            ("español", "es"),
            ("Deutsch", "de"),
            ("deutsch", "de"),
            ("日本語", "ja"),
            ("العربية", "ar"),
            ("हिन्दी", "hi"),
            ("ΕΛΛΗΝΙΚΆ", "el"),
            ("עברית", "he"),
            ("中文", "zh"),
            ("한국어", "ko"),
            ("РУССКИЙ", "ru"),
            ("українська", "uk"),
            ("ქართული", "ka"),
            ("Nederlands", "nl"),
        ] {
            assert_eq!(code_of(input), Some(code), "input {input:?}");
        }
    }

    #[test]
    fn lookup_by_alias() {
        for (input, code) in [
            ("farsi", "fa"),
            ("Mandarin", "zh"),
            ("castilian", "es"),
            ("Tagalog", "tl"),
            ("norwegian bokmål", "no"),
            ("Norwegian Bokmal", "no"),
            ("Flemish", "nl"),
            ("sinhalese", "si"),
        ] {
            assert_eq!(code_of(input), Some(code), "input {input:?}");
        }
    }

    #[test]
    fn lookup_ignores_diacritics_as_fallback() {
        for (input, code) in [
            ("espanol", "es"),
            ("Francais", "fr"),
            ("portugues", "pt"),
            ("tieng viet", "vi"),
            ("o'zbekcha", "uz"),
            ("Turkce", "tr"),
        ] {
            assert_eq!(code_of(input), Some(code), "input {input:?}");
        }
    }

    #[test]
    fn fold_makes_latin_script_names_ascii() {
        assert_eq!(fold("șşßçñøő’"), "sssscnoo");
        let latin = |c: char| {
            c.is_ascii()
                || ('\u{c0}'..='\u{2af}').contains(&c)
                || ('\u{1e00}'..='\u{1eff}').contains(&c)
                || c == 'ʻ'
        };
        let mut checked = 0;
        for lang in LANGUAGES {
            for name in names(lang).filter(|n| n.chars().all(latin)) {
                assert!(fold(&name).is_ascii(), "fold({name:?}) = {:?}", fold(&name));
                checked += 1;
            }
        }
        assert!(checked > 100, "only {checked} Latin-script names");
    }

    #[test]
    fn lookup_region_and_script_tags() {
        for (input, code) in [
            ("pt-BR", "pt"),
            ("pt_br", "pt"),
            ("zh-TW", "zh"),
            ("zh-Hans", "zh"),
            ("zh-Hant-TW", "zh"),
            ("en-US", "en"),
            ("sr_Latn", "sr"),
            ("nb-NO", "no"),
            ("spa-MX", "es"),
            ("es-419", "es"),
        ] {
            assert_eq!(code_of(input), Some(code), "input {input:?}");
        }
        for input in [
            "xx-YY",
            "english-us",
            "pt-",
            "-br",
            "pt-BR-",
            "pt--br",
            "pt-toolongsubtag",
        ] {
            assert_eq!(code_of(input), None, "input {input:?}");
        }
    }

    #[test]
    fn flags_stand_for_their_country_language() {
        for (input, code) in [
            ("🇪🇸", "es"),
            ("🇫🇷", "fr"),
            ("🇩🇪", "de"),
            ("🇯🇵", "ja"),
            ("🇬🇧", "en"),
            ("🇺🇸", "en"),
            ("🇧🇷", "pt"),
            ("🇵🇹", "pt"),
            ("🇨🇳", "zh"),
            ("🇹🇼", "zh"),
            ("🇷🇺", "ru"),
            ("🇺🇦", "uk"),
            ("🇰🇷", "ko"),
            ("🇮🇹", "it"),
            (" 🇲🇽! ", "es"),
            (
                "🏴\u{E0067}\u{E0062}\u{E0077}\u{E006C}\u{E0073}\u{E007F}",
                "cy",
            ),
        ] {
            assert_eq!(code_of(input), Some(code), "input {input:?}");
        }
        // Unknown or multilingual regions, broken sequences and several flags at once.
        for input in [
            "🇦🇶",
            "🇨🇭",
            "🇪",
            "🇪🇸🇫",
            "🏴",
            "🏴\u{E0067}\u{E0062}",
            "🇪🇸🇫🇷",
            "🇪🇸x",
        ] {
            assert_eq!(code_of(input), None, "input {input:?}");
        }
    }

    #[test]
    fn runs_of_flags_split_into_languages() {
        let codes = |input: &str| {
            Lang::from_flags(input).map(|langs| langs.iter().map(|l| l.code).collect::<Vec<_>>())
        };
        assert_eq!(codes("🇪🇸🇫🇷"), Some(vec!["es", "fr"]));
        assert_eq!(codes(" 🇯🇵 🇩🇪\u{FE0F}🇧🇷 "), Some(vec!["ja", "de", "pt"]));
        assert_eq!(codes("🇪🇸"), Some(vec!["es"]));
        assert_eq!(codes("🇪🇸🇦🇶"), None, "one unknown flag spoils the run");
        assert_eq!(codes("🇪🇸 and 🇫🇷"), None);
        assert_eq!(codes(""), None);
        assert_eq!(codes("es"), None);
    }

    #[test]
    fn display_flags_round_trip() {
        let flag = |code: &str| Lang::from_code(code).and_then(Lang::flag);
        assert_eq!(flag("es"), Some("🇪🇸"));
        assert_eq!(flag("en"), Some("🇬🇧"));
        assert_eq!(flag("pt"), Some("🇵🇹"));
        assert_eq!(flag("zh"), Some("🇨🇳"));
        assert_eq!(flag("ar"), Some("🇸🇦"));
        assert_eq!(flag("hi"), Some("🇮🇳"));
        for code in ["eo", "la", "eu", "ta", "yo"] {
            assert_eq!(flag(code), None, "{code}");
        }
        let mut with_flag = 0;
        for lang in LANGUAGES {
            if let Some(f) = lang.flag() {
                assert_eq!(Lang::lookup(f), Some(lang), "flag {f} of {}", lang.code);
                with_flag += 1;
            }
        }
        assert_eq!(with_flag, DISPLAY_FLAGS.len());
    }

    #[test]
    fn flag_tables_are_consistent() {
        let mut regions = HashSet::new();
        for (region, code) in FLAG_REGIONS {
            assert!(regions.insert(region), "duplicate region {region}");
            assert!(by_any_code(code).is_some(), "{region} -> unknown {code}");
            assert_eq!(split_flags(&flag_emoji(region)).map(|f| f.len()), Some(1));
        }
        assert_eq!(FLAGS.len(), FLAG_REGIONS.len());
        assert!(
            FLAG_REGIONS.len() >= 60,
            "only {} flags",
            FLAG_REGIONS.len()
        );
        let mut langs = HashSet::new();
        for (code, region) in DISPLAY_FLAGS {
            assert!(langs.insert(code), "duplicate display flag for {code}");
            assert!(
                FLAG_REGIONS.contains(&(*region, *code)),
                "display flag {region} for {code} is not a lookup flag"
            );
        }
    }

    #[test]
    fn lookup_ignores_trailing_punctuation() {
        for (input, code) in [
            ("Spanish.", "es"),
            ("french!", "fr"),
            (" german? ", "de"),
            ("es:", "es"),
            ("Deutsch!! ", "de"),
            ("japanese ?!", "ja"),
            ("中文。", "zh"),
            ("pt-BR;", "pt"),
        ] {
            assert_eq!(code_of(input), Some(code), "input {input:?}");
        }
        // Leading punctuation is not ignored.
        assert_eq!(code_of("!spanish"), None);
    }

    #[test]
    fn lookup_rejects_unknown_input() {
        for input in [
            "",
            "   ",
            "...",
            "!",
            "klingon",
            "xx",
            "xxx",
            "in",
            "and",
            "or",
            "me",
            "to",
            "english please",
        ] {
            assert_eq!(code_of(input), None, "input {input:?}");
        }
    }

    #[test]
    fn codes_that_are_also_words_do_resolve() {
        // Documented: callers parsing free text must handle these themselves.
        assert_eq!(code_of("it"), Some("it"));
        assert_eq!(code_of("No"), Some("no"));
        assert_eq!(code_of("de"), Some("de"));
    }

    #[test]
    fn from_code_is_exact_iso_639_1() {
        assert_eq!(Lang::from_code("es").map(|l| l.name), Some("Spanish"));
        assert_eq!(Lang::from_code("ES").map(|l| l.name), Some("Spanish"));
        assert_eq!(Lang::from_code("nb").map(|l| l.name), Some("Norwegian"));
        assert_eq!(Lang::from_code("spa"), None);
        assert_eq!(Lang::from_code("Spanish"), None);
        assert_eq!(Lang::from_code(" es"), None);
        assert_eq!(Lang::from_code(""), None);
        assert_eq!(Lang::from_code("xx"), None);
        for lang in LANGUAGES {
            assert_eq!(Lang::from_code(lang.code), Some(lang));
        }
    }

    #[test]
    fn display_is_english_name() {
        let es = Lang::lookup("es");
        assert_eq!(es.map(ToString::to_string).as_deref(), Some("Spanish"));
        let ht = Lang::lookup("ht");
        assert_eq!(
            ht.map(|l| format!("<{l}>")).as_deref(),
            Some("<Haitian Creole>")
        );
    }

    #[test]
    fn suggest_corrects_typos() {
        for (typo, code) in [
            ("spansh", "es"),
            ("germna", "de"),
            ("japanse", "ja"),
            ("portugese", "pt"),
            ("frnech", "fr"),
            ("swedsh", "sv"),
            ("hungarain", "hu"),
            ("ukranian", "uk"),
            ("itallian", "it"),
            ("Espanol!", "es"),
            ("farsy", "fa"),
        ] {
            let got = Lang::suggest(typo, 3);
            assert_eq!(
                got.first().map(|l| l.code),
                Some(code),
                "typo {typo:?} -> {got:?}"
            );
        }
    }

    #[test]
    fn suggest_rejects_nonsense() {
        for input in [
            "klingon",
            "xyzzy",
            "qwertyuiop",
            "hello world",
            "",
            "  ",
            "?",
        ] {
            let got = Lang::suggest(input, 5);
            assert!(got.is_empty(), "input {input:?} -> {got:?}");
        }
    }

    #[test]
    fn suggest_respects_max_and_has_no_duplicates() {
        assert!(Lang::suggest("spansh", 0).is_empty());
        assert_eq!(Lang::suggest("spansh", 1).len(), 1);
        // "slovan" is close to Slovak, Slovene and Slovenian: one entry per language.
        let many = Lang::suggest("slovan", 10);
        assert!(many.len() >= 2, "{many:?}");
        let unique: HashSet<_> = many.iter().map(|l| l.code).collect();
        assert_eq!(unique.len(), many.len(), "{many:?}");
    }

    #[test]
    fn table_codes_are_unique_and_well_formed() {
        assert!(LANGUAGES.len() >= 80, "only {} languages", LANGUAGES.len());
        let mut codes = HashSet::new();
        let mut code3s = HashSet::new();
        for lang in LANGUAGES {
            assert!(
                lang.code.len() == 2 && lang.code.bytes().all(|b| b.is_ascii_lowercase()),
                "{lang:?}"
            );
            assert!(
                lang.code3.len() == 3 && lang.code3.bytes().all(|b| b.is_ascii_lowercase()),
                "{lang:?}"
            );
            assert!(codes.insert(lang.code), "duplicate code {}", lang.code);
            assert!(code3s.insert(lang.code3), "duplicate code3 {}", lang.code3);
        }
        for (alt, canonical) in ALT_CODES {
            assert!(
                codes.contains(canonical),
                "alt code {alt} -> unknown {canonical}"
            );
            assert!(
                !codes.contains(alt) && !code3s.contains(alt),
                "alt code {alt} shadows a code"
            );
        }
    }

    #[test]
    fn table_fields_are_non_empty_and_aliases_lowercase() {
        for lang in LANGUAGES {
            for field in [lang.name, lang.native] {
                assert!(!field.is_empty() && field.trim() == field, "{lang:?}");
            }
            for alias in lang.aliases {
                assert!(!alias.is_empty() && alias.trim() == *alias, "{lang:?}");
                assert_eq!(
                    *alias,
                    alias.to_lowercase(),
                    "alias not lowercase in {lang:?}"
                );
                assert_ne!(
                    *alias,
                    lang.name.to_lowercase(),
                    "redundant alias in {lang:?}"
                );
                assert_ne!(
                    *alias,
                    lang.native.to_lowercase(),
                    "redundant alias in {lang:?}"
                );
            }
        }
    }

    #[test]
    fn no_key_collides_across_languages() {
        let mut owner: HashMap<String, &str> = HashMap::new();
        for lang in LANGUAGES {
            let keys: HashSet<String> = exact_keys(lang)
                .chain(names(lang).map(|n| fold(&n)))
                .collect();
            for key in keys {
                if let Some(other) = owner.insert(key.clone(), lang.code) {
                    panic!("key {key:?} belongs to both {other} and {}", lang.code);
                }
            }
        }
        for (alt, canonical) in ALT_CODES {
            assert!(
                owner.get(*alt).is_none_or(|code| code == canonical),
                "alt code {alt} collides"
            );
        }
    }

    #[test]
    fn every_key_round_trips() {
        for lang in LANGUAGES {
            for key in exact_keys(lang) {
                assert_eq!(Lang::lookup(&key), Some(lang), "key {key:?}");
                assert_eq!(
                    Lang::lookup(&key.to_uppercase()),
                    Some(lang),
                    "key {key:?} uppercased"
                );
            }
        }
    }

    #[test]
    fn required_languages_are_present() {
        for (name, code, code3) in [
            ("Afrikaans", "af", "afr"),
            ("Albanian", "sq", "sqi"),
            ("Amharic", "am", "amh"),
            ("Arabic", "ar", "ara"),
            ("Armenian", "hy", "hye"),
            ("Azerbaijani", "az", "aze"),
            ("Basque", "eu", "eus"),
            ("Belarusian", "be", "bel"),
            ("Bengali", "bn", "ben"),
            ("Bosnian", "bs", "bos"),
            ("Bulgarian", "bg", "bul"),
            ("Catalan", "ca", "cat"),
            ("Chinese", "zh", "zho"),
            ("Croatian", "hr", "hrv"),
            ("Czech", "cs", "ces"),
            ("Danish", "da", "dan"),
            ("Dutch", "nl", "nld"),
            ("English", "en", "eng"),
            ("Esperanto", "eo", "epo"),
            ("Estonian", "et", "est"),
            ("Filipino", "tl", "tgl"),
            ("Tagalog", "tl", "tgl"),
            ("Finnish", "fi", "fin"),
            ("French", "fr", "fra"),
            ("Galician", "gl", "glg"),
            ("Georgian", "ka", "kat"),
            ("German", "de", "deu"),
            ("Greek", "el", "ell"),
            ("Gujarati", "gu", "guj"),
            ("Haitian Creole", "ht", "hat"),
            ("Hausa", "ha", "hau"),
            ("Hebrew", "he", "heb"),
            ("Hindi", "hi", "hin"),
            ("Hungarian", "hu", "hun"),
            ("Icelandic", "is", "isl"),
            ("Igbo", "ig", "ibo"),
            ("Indonesian", "id", "ind"),
            ("Irish", "ga", "gle"),
            ("Italian", "it", "ita"),
            ("Japanese", "ja", "jpn"),
            ("Javanese", "jv", "jav"),
            ("Kannada", "kn", "kan"),
            ("Kazakh", "kk", "kaz"),
            ("Khmer", "km", "khm"),
            ("Korean", "ko", "kor"),
            ("Kurdish", "ku", "kur"),
            ("Kyrgyz", "ky", "kir"),
            ("Lao", "lo", "lao"),
            ("Latin", "la", "lat"),
            ("Latvian", "lv", "lav"),
            ("Lithuanian", "lt", "lit"),
            ("Luxembourgish", "lb", "ltz"),
            ("Macedonian", "mk", "mkd"),
            ("Malay", "ms", "msa"),
            ("Malayalam", "ml", "mal"),
            ("Maltese", "mt", "mlt"),
            ("Maori", "mi", "mri"),
            ("Marathi", "mr", "mar"),
            ("Mongolian", "mn", "mon"),
            ("Nepali", "ne", "nep"),
            ("Norwegian", "no", "nor"),
            ("Pashto", "ps", "pus"),
            ("Persian", "fa", "fas"),
            ("Polish", "pl", "pol"),
            ("Portuguese", "pt", "por"),
            ("Punjabi", "pa", "pan"),
            ("Romanian", "ro", "ron"),
            ("Russian", "ru", "rus"),
            ("Serbian", "sr", "srp"),
            ("Sinhala", "si", "sin"),
            ("Slovak", "sk", "slk"),
            ("Slovenian", "sl", "slv"),
            ("Somali", "so", "som"),
            ("Spanish", "es", "spa"),
            ("Swahili", "sw", "swa"),
            ("Swedish", "sv", "swe"),
            ("Tajik", "tg", "tgk"),
            ("Tamil", "ta", "tam"),
            ("Telugu", "te", "tel"),
            ("Thai", "th", "tha"),
            ("Turkish", "tr", "tur"),
            ("Ukrainian", "uk", "ukr"),
            ("Urdu", "ur", "urd"),
            ("Uzbek", "uz", "uzb"),
            ("Vietnamese", "vi", "vie"),
            ("Welsh", "cy", "cym"),
            ("Xhosa", "xh", "xho"),
            ("Yiddish", "yi", "yid"),
            ("Yoruba", "yo", "yor"),
            ("Zulu", "zu", "zul"),
        ] {
            let lang = Lang::lookup(name);
            assert_eq!(
                lang.map(|l| (l.code, l.code3)),
                Some((code, code3)),
                "{name}"
            );
        }
    }
}
