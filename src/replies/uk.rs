//! Ukrainian: `/help` only; every other reply falls back to English.

use super::locale::Language;
use super::words::HelpWords;

pub(crate) static LANGUAGE: Language = Language {
    code: "uk",
    help: HelpWords {
        intro: "Я перекладаю текст одразу однією або кількома мовами.",
        languages: "мови, які я знаю",
        help: "це повідомлення",
        defaults: "мови за замовчуванням: /lang es fr, /lang off",
        favorites: "мови, якими ви користуєтеся найчастіше",
        history: "ваші останні переклади",
        forget: "видалити все, що я зберігаю про вас",
        reply: "Відповідайте /tr de на будь-яке повідомлення, щоб перекласти його.",
        limits: "Ліміти на один запит: символів — {chars}, мов — {targets}.",
        voice: "Надішліть голосове повідомлення з підписом /tr es,fr, щоб перекласти сказане.",
        demo: "Зараз працює офлайн-демо: я знаю лише невеликий розмовник поширених фраз (hello, \
               good morning, thank you...). Щоб перекладати будь-який текст, підключіть \
               справжній сервіс перекладу (див. README).",
    },
    words: None,
};
