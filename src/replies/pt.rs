//! Portuguese: `/help` only; every other reply falls back to English.

use super::locale::Language;
use super::words::HelpWords;

pub(crate) static LANGUAGE: Language = Language {
    code: "pt",
    help: HelpWords {
        intro: "Traduzo textos para um ou vários idiomas de uma só vez.",
        languages: "os idiomas que conheço",
        help: "esta mensagem",
        defaults: "seus idiomas padrão: /lang es fr, /lang off",
        favorites: "os idiomas que você mais usa",
        history: "suas últimas traduções",
        forget: "apagar tudo o que guardo sobre você",
        reply: "Responda /tr de a qualquer mensagem para traduzi-la.",
        limits: "Até {chars} caracteres e {targets} idiomas por pedido.",
        voice: "Envie uma mensagem de voz com a legenda /tr es,fr para traduzir o que você \
                disser.",
        demo: "Estou usando o provedor de demonstração offline: só conheço um pequeno guia de \
               frases comuns (hello, good morning, thank you...). Configure um provedor real \
               para traduzir qualquer texto (veja o README).",
    },
    words: None,
};
