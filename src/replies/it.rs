//! Italian: `/help` only; every other reply falls back to English.

use super::locale::Language;
use super::words::HelpWords;

pub(crate) static LANGUAGE: Language = Language {
    code: "it",
    help: HelpWords {
        intro: "Traduco testi in una o più lingue contemporaneamente.",
        languages: "le lingue che conosco",
        help: "questo messaggio",
        defaults: "le tue lingue predefinite: /lang es fr, /lang off",
        favorites: "le lingue che usi di più",
        history: "le tue ultime traduzioni",
        forget: "cancella tutto ciò che conservo su di te",
        reply: "Rispondi /tr de a qualsiasi messaggio per tradurlo.",
        limits: "Fino a {chars} caratteri e {targets} lingue per richiesta.",
        voice: "Invia un messaggio vocale con la didascalia /tr es,fr per tradurre quello che \
                dici.",
        demo: "Sto usando il fornitore dimostrativo offline: conosco solo un piccolo frasario di \
               espressioni comuni (hello, good morning, thank you...). Configura un fornitore \
               reale per tradurre qualsiasi testo (vedi il README).",
    },
    words: None,
};
