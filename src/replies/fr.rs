//! French: `/help` only; every other reply falls back to English.

use super::locale::Language;
use super::words::HelpWords;

pub(crate) static LANGUAGE: Language = Language {
    code: "fr",
    help: HelpWords {
        intro: "Je traduis un texte dans une ou plusieurs langues à la fois.",
        languages: "les langues que je connais",
        help: "ce message",
        defaults: "vos langues par défaut : /lang es fr, /lang off",
        favorites: "les langues que vous utilisez le plus",
        history: "vos dernières traductions",
        forget: "effacer tout ce que je garde sur vous",
        reply: "Répondez /tr de à n'importe quel message pour le traduire.",
        limits: "Jusqu'à {chars} caractères et {targets} langues par demande.",
        voice: "Envoyez un message vocal avec la légende /tr es,fr pour traduire ce que vous \
                dites.",
        demo: "J'utilise le fournisseur de démonstration hors ligne : il ne connaît qu'un petit \
               recueil de phrases courantes (hello, good morning, thank you...). Configurez un \
               vrai fournisseur pour traduire n'importe quel texte (voir le README).",
    },
    words: None,
};
