//! The offline demo's phrasebook: a few common English phrases in sixteen languages.
//!
//! Small on purpose: it lets the runtime be tried with no network and no key, and everything
//! outside it is answered with an honest "not in the offline demo phrasebook".

/// Languages the phrasebook covers (ISO 639-1), besides English.
pub const COVERED: &[&str] = &[
    "es", "fr", "de", "it", "pt", "nl", "ru", "uk", "pl", "tr", "ja", "zh", "ko", "ar", "hi", "sv",
];

type Row = (&'static str, [&'static str; 16]);

/// English phrase (normalised) → translations in the order of [`COVERED`].
const PHRASES: &[Row] = &[
    (
        "hello",
        [
            "Hola",
            "Bonjour",
            "Hallo",
            "Ciao",
            "Olá",
            "Hallo",
            "Привет",
            "Привіт",
            "Cześć",
            "Merhaba",
            "こんにちは",
            "你好",
            "안녕하세요",
            "مرحبا",
            "नमस्ते",
            "Hej",
        ],
    ),
    (
        "good morning",
        [
            "Buenos días",
            "Bonjour",
            "Guten Morgen",
            "Buongiorno",
            "Bom dia",
            "Goedemorgen",
            "Доброе утро",
            "Доброго ранку",
            "Dzień dobry",
            "Günaydın",
            "おはようございます",
            "早上好",
            "좋은 아침입니다",
            "صباح الخير",
            "सुप्रभात",
            "God morgon",
        ],
    ),
    (
        "good evening",
        [
            "Buenas noches",
            "Bonsoir",
            "Guten Abend",
            "Buonasera",
            "Boa noite",
            "Goedenavond",
            "Добрый вечер",
            "Добрий вечір",
            "Dobry wieczór",
            "İyi akşamlar",
            "こんばんは",
            "晚上好",
            "좋은 저녁입니다",
            "مساء الخير",
            "शुभ संध्या",
            "God kväll",
        ],
    ),
    (
        "good night",
        [
            "Buenas noches",
            "Bonne nuit",
            "Gute Nacht",
            "Buonanotte",
            "Boa noite",
            "Goedenacht",
            "Спокойной ночи",
            "На добраніч",
            "Dobranoc",
            "İyi geceler",
            "おやすみなさい",
            "晚安",
            "안녕히 주무세요",
            "تصبح على خير",
            "शुभ रात्रि",
            "God natt",
        ],
    ),
    (
        "thank you",
        [
            "Gracias",
            "Merci",
            "Danke",
            "Grazie",
            "Obrigado",
            "Dank je",
            "Спасибо",
            "Дякую",
            "Dziękuję",
            "Teşekkür ederim",
            "ありがとう",
            "谢谢",
            "감사합니다",
            "شكرا",
            "धन्यवाद",
            "Tack",
        ],
    ),
    (
        "thank you very much",
        [
            "Muchas gracias",
            "Merci beaucoup",
            "Vielen Dank",
            "Grazie mille",
            "Muito obrigado",
            "Dank je wel",
            "Большое спасибо",
            "Щиро дякую",
            "Dziękuję bardzo",
            "Çok teşekkür ederim",
            "どうもありがとうございます",
            "非常感谢",
            "정말 감사합니다",
            "شكرا جزيلا",
            "बहुत धन्यवाद",
            "Tack så mycket",
        ],
    ),
    (
        "please",
        [
            "Por favor",
            "S'il vous plaît",
            "Bitte",
            "Per favore",
            "Por favor",
            "Alstublieft",
            "Пожалуйста",
            "Будь ласка",
            "Proszę",
            "Lütfen",
            "お願いします",
            "请",
            "부탁합니다",
            "من فضلك",
            "कृपया",
            "Snälla",
        ],
    ),
    (
        "yes",
        [
            "Sí",
            "Oui",
            "Ja",
            "Sì",
            "Sim",
            "Ja",
            "Да",
            "Так",
            "Tak",
            "Evet",
            "はい",
            "是",
            "네",
            "نعم",
            "हाँ",
            "Ja",
        ],
    ),
    (
        "no",
        [
            "No",
            "Non",
            "Nein",
            "No",
            "Não",
            "Nee",
            "Нет",
            "Ні",
            "Nie",
            "Hayır",
            "いいえ",
            "不",
            "아니요",
            "لا",
            "नहीं",
            "Nej",
        ],
    ),
    (
        "goodbye",
        [
            "Adiós",
            "Au revoir",
            "Auf Wiedersehen",
            "Arrivederci",
            "Adeus",
            "Tot ziens",
            "До свидания",
            "До побачення",
            "Do widzenia",
            "Hoşça kal",
            "さようなら",
            "再见",
            "안녕히 가세요",
            "مع السلامة",
            "अलविदा",
            "Hej då",
        ],
    ),
    (
        "how are you",
        [
            "¿Cómo estás?",
            "Comment ça va ?",
            "Wie geht es dir?",
            "Come stai?",
            "Como você está?",
            "Hoe gaat het?",
            "Как дела?",
            "Як справи?",
            "Jak się masz?",
            "Nasılsın?",
            "お元気ですか？",
            "你好吗？",
            "어떻게 지내세요?",
            "كيف حالك؟",
            "आप कैसे हैं?",
            "Hur mår du?",
        ],
    ),
    (
        "welcome",
        [
            "Bienvenido",
            "Bienvenue",
            "Willkommen",
            "Benvenuto",
            "Bem-vindo",
            "Welkom",
            "Добро пожаловать",
            "Ласкаво просимо",
            "Witamy",
            "Hoş geldiniz",
            "ようこそ",
            "欢迎",
            "환영합니다",
            "أهلا وسهلا",
            "स्वागत है",
            "Välkommen",
        ],
    ),
    (
        "sorry",
        [
            "Lo siento",
            "Désolé",
            "Entschuldigung",
            "Mi dispiace",
            "Desculpe",
            "Sorry",
            "Извините",
            "Вибачте",
            "Przepraszam",
            "Özür dilerim",
            "ごめんなさい",
            "对不起",
            "죄송합니다",
            "آسف",
            "माफ़ कीजिए",
            "Förlåt",
        ],
    ),
    (
        "excuse me",
        [
            "Disculpe",
            "Excusez-moi",
            "Entschuldigen Sie",
            "Mi scusi",
            "Com licença",
            "Pardon",
            "Извините",
            "Перепрошую",
            "Przepraszam",
            "Affedersiniz",
            "すみません",
            "打扰一下",
            "실례합니다",
            "عفوا",
            "क्षमा कीजिए",
            "Ursäkta",
        ],
    ),
    (
        "i love you",
        [
            "Te quiero",
            "Je t'aime",
            "Ich liebe dich",
            "Ti amo",
            "Eu te amo",
            "Ik hou van jou",
            "Я тебя люблю",
            "Я тебе кохаю",
            "Kocham cię",
            "Seni seviyorum",
            "愛してる",
            "我爱你",
            "사랑해요",
            "أحبك",
            "मैं तुमसे प्यार करता हूँ",
            "Jag älskar dig",
        ],
    ),
    (
        "happy birthday",
        [
            "Feliz cumpleaños",
            "Joyeux anniversaire",
            "Alles Gute zum Geburtstag",
            "Buon compleanno",
            "Feliz aniversário",
            "Gefeliciteerd met je verjaardag",
            "С днём рождения",
            "З днем народження",
            "Wszystkiego najlepszego z okazji urodzin",
            "Doğum günün kutlu olsun",
            "お誕生日おめでとう",
            "生日快乐",
            "생일 축하해요",
            "عيد ميلاد سعيد",
            "जन्मदिन मुबारक",
            "Grattis på födelsedagen",
        ],
    ),
    (
        "good luck",
        [
            "Buena suerte",
            "Bonne chance",
            "Viel Glück",
            "Buona fortuna",
            "Boa sorte",
            "Veel succes",
            "Удачи",
            "Успіхів",
            "Powodzenia",
            "İyi şanslar",
            "幸運を祈ります",
            "祝你好运",
            "행운을 빌어요",
            "حظا سعيدا",
            "शुभकामनाएँ",
            "Lycka till",
        ],
    ),
    (
        "see you later",
        [
            "Hasta luego",
            "À plus tard",
            "Bis später",
            "A dopo",
            "Até logo",
            "Tot later",
            "До встречи",
            "До зустрічі",
            "Do zobaczenia",
            "Görüşürüz",
            "またね",
            "回头见",
            "나중에 봐요",
            "أراك لاحقا",
            "फिर मिलेंगे",
            "Vi ses senare",
        ],
    ),
    (
        "cheers",
        [
            "¡Salud!",
            "Santé !",
            "Prost!",
            "Salute!",
            "Saúde!",
            "Proost!",
            "За здоровье!",
            "Будьмо!",
            "Na zdrowie!",
            "Şerefe!",
            "乾杯！",
            "干杯！",
            "건배!",
            "في صحتك!",
            "चीयर्स!",
            "Skål!",
        ],
    ),
    (
        "what is your name",
        [
            "¿Cómo te llamas?",
            "Comment tu t'appelles ?",
            "Wie heißt du?",
            "Come ti chiami?",
            "Como você se chama?",
            "Hoe heet je?",
            "Как тебя зовут?",
            "Як тебе звати?",
            "Jak masz na imię?",
            "Adın ne?",
            "お名前は何ですか？",
            "你叫什么名字？",
            "이름이 뭐예요?",
            "ما اسمك؟",
            "आपका नाम क्या है?",
            "Vad heter du?",
        ],
    ),
];

/// Other ways of writing a phrase → its canonical form.
const SYNONYMS: &[(&str, &str)] = &[
    ("hi", "hello"),
    ("hey", "hello"),
    ("thanks", "thank you"),
    ("thank you so much", "thank you very much"),
    ("thanks a lot", "thank you very much"),
    ("many thanks", "thank you very much"),
    ("bye", "goodbye"),
    ("good bye", "goodbye"),
    ("bye bye", "goodbye"),
    ("how are you doing", "how are you"),
    ("what's your name", "what is your name"),
    ("whats your name", "what is your name"),
    ("see you", "see you later"),
    ("i'm sorry", "sorry"),
    ("im sorry", "sorry"),
    ("love you", "i love you"),
    ("goodnight", "good night"),
];

/// Lower-cases, drops surrounding punctuation and quotes, collapses spaces.
pub fn normalise(text: &str) -> String {
    // Invisible formatting (zero-width and bidirectional controls) is not part of a phrase.
    let visible: String = text
        .chars()
        .filter(|c| !matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}'))
        .collect();
    let words: Vec<&str> = visible.split_whitespace().collect();
    let joined = words.join(" ").to_lowercase().replace('’', "'");
    joined
        .trim_matches(|c: char| {
            c.is_ascii_punctuation() || c.is_whitespace() || "¡¿“”«»‘。！？".contains(c)
        })
        .to_string()
}

/// The phrasebook's translation of English `text` into `target` (ISO 639-1), if it has one.
pub fn lookup(text: &str, target: &str) -> Option<&'static str> {
    let key = normalise(text);
    let key = SYNONYMS
        .iter()
        .find(|(alias, _)| *alias == key)
        .map_or(key.as_str(), |(_, canonical)| canonical);
    let (english, row) = PHRASES.iter().find(|(phrase, _)| *phrase == key)?;
    if target == "en" {
        return Some(english);
    }
    let index = COVERED.iter().position(|c| *c == target)?;
    Some(row[index])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_phrases_regardless_of_case_spacing_and_punctuation() {
        assert_eq!(lookup("Good morning!", "es"), Some("Buenos días"));
        assert_eq!(lookup("  good   MORNING ", "de"), Some("Guten Morgen"));
        assert_eq!(lookup("\"thanks\"", "ja"), Some("ありがとう"));
        assert_eq!(lookup("How are you?", "fr"), Some("Comment ça va ?"));
        assert_eq!(lookup("What's your name?", "it"), Some("Come ti chiami?"));
    }

    #[test]
    fn misses_are_misses() {
        assert_eq!(lookup("the quick brown fox", "es"), None);
        assert_eq!(lookup("good morning", "xx"), None);
        assert_eq!(lookup("good morning", "fi"), None);
    }

    #[test]
    fn every_covered_language_is_a_known_language() {
        for code in COVERED {
            assert!(crate::lang::Lang::from_code(code).is_some(), "{code}");
        }
        for (phrase, row) in PHRASES {
            assert_eq!(normalise(phrase), *phrase);
            assert!(row.iter().all(|t| !t.is_empty()));
        }
    }
}
