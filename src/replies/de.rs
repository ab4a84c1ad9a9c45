//! German (informal "du", as chat bots usually speak): every reply.

use super::locale::Language;
use super::words::{Conjunction, HelpWords, Plural, Words, plural_one_other};

pub(crate) static LANGUAGE: Language = Language {
    code: "de",
    help: HelpWords {
        intro: "Ich übersetze Texte in eine oder mehrere Sprachen gleichzeitig.",
        languages: "die Sprachen, die ich kenne",
        help: "diese Nachricht",
        defaults: "deine Standardsprachen: /lang es fr, /lang off",
        favorites: "die Sprachen, die du am häufigsten nutzt",
        history: "deine letzten Übersetzungen",
        forget: "alles löschen, was ich über dich speichere",
        reply: "Antworte mit /tr de auf eine Nachricht, um sie zu übersetzen.",
        limits: "Bis zu {chars} Zeichen und {targets} Sprachen pro Anfrage.",
        voice: "Schick eine Sprachnachricht mit der Bildunterschrift /tr es,fr, um zu übersetzen, \
                was du sagst.",
        demo: "Ich laufe mit dem Offline-Demo-Anbieter: Er kennt nur eine kleine Sammlung \
               gängiger Sätze (hello, good morning, thank you...). Richte einen echten Anbieter \
               ein, um beliebige Texte zu übersetzen (siehe README).",
    },
    words: Some(&WORDS),
};

static WORDS: Words = Words {
    plural_rule: plural_one_other,
    and: Conjunction {
        sep: ", ",
        last: " und ",
        last_alt: None,
    },
    or: Conjunction {
        sep: ", ",
        last: " oder ",
        last_alt: None,
    },

    seconds: Plural {
        one: "{n} Sekunde",
        few: "{n} Sekunden",
        many: "{n} Sekunden",
    },
    characters: Plural {
        one: "{n} Zeichen",
        few: "{n} Zeichen",
        many: "{n} Zeichen",
    },
    languages: Plural {
        one: "{n} Sprache",
        few: "{n} Sprachen",
        many: "{n} Sprachen",
    },
    items: Plural {
        one: "{n} Eintrag",
        few: "{n} Einträge",
        many: "{n} Einträge",
    },
    translations: Plural {
        one: "{n} Übersetzung",
        few: "{n} Übersetzungen",
        many: "{n} Übersetzungen",
    },
    hours: Plural {
        one: "{n} Stunde",
        few: "{n} Stunden",
        many: "{n} Stunden",
    },
    minutes: Plural {
        one: "{n} Minute",
        few: "{n} Minuten",
        many: "{n} Minuten",
    },
    hours_minutes: "{hours} und {minutes}",

    voice_disabled: "Sprachnachrichten sind bei diesem Bot nicht aktiviert (es ist kein \
                     Transkriptionsdienst eingerichtet). Bitte schick mir Text.",
    voice_too_long: "Diese Sprachnachricht ist {secs} lang; ich transkribiere bis zu {max}.",
    voice_fetch_failed: "Ich konnte diese Sprachnachricht nicht herunterladen. Bitte versuch es \
                         noch einmal.",
    voice_not_transcribed: "Ich konnte diese Sprachnachricht nicht transkribieren: {reason}.",
    transcript_only: "Du hast gesagt: „{text}“\nUm eine Sprachnachricht zu übersetzen, gib ihr \
                      eine Bildunterschrift wie /tr es,fr oder leg deine Sprachen einmal mit \
                      /lang es fr fest.",
    languages_header: "Ich kenne {count}:",
    not_a_command: "Ich übersetze Texte. Probier zum Beispiel „translate good morning to \
                    Spanish“ oder /tr es,fr good morning. /help zeigt alles, was ich verstehe.",
    empty: "Diese Nachricht ist leer. Schick mir etwas zum Übersetzen, z. B. /tr es good \
            morning.",
    unreadable: "Diese Art von Nachricht kann ich nicht lesen. Schick mir Text zum Übersetzen, \
                 z. B. /tr es good morning.",
    no_text: "Was soll ich übersetzen? Schreib den Text hinter die Sprachen, z. B. /tr es,fr \
              good morning.",
    which_language: "In welche Sprache? Zum Beispiel /tr es good morning – oder leg mit /lang es \
                     fr Standardsprachen fest.",
    unknown_language: "Die Sprache „{name}“ kenne ich nicht.",
    did_you_mean: " Meintest du {suggestions}?",
    languages_hint: "/languages listet alle Sprachen auf, die ich kenne.",
    too_long: "Diese Nachricht hat {chars}; ich übersetze höchstens {max} auf einmal. Bitte \
               schick sie in kleineren Teilen.",
    too_many_targets: "Das sind {count}; ich übersetze in höchstens {max} gleichzeitig.",
    unknown_command: "Den Befehl /{command} kenne ich nicht. /help zeigt, was ich verstehe.",
    rate_limited: "Du schickst Nachrichten schneller, als ich sie übersetzen kann. Bitte warte \
                   {wait} und versuch es dann noch einmal. (Nachrichten, die du bis dahin \
                   schickst, überspringe ich.)",
    timed_out: "Tut mir leid, das hat zu lange gedauert und ich habe aufgegeben. Bitte versuch \
                es in einer Minute noch einmal.",
    internal_error: "Tut mir leid, beim Verarbeiten dieser Nachricht ist etwas schiefgelaufen. \
                     Bitte versuch es noch einmal.",
    store_unavailable: "Ich kann deine Einstellungen gerade nicht lesen oder speichern. Bitte \
                        versuch es gleich noch einmal.",

    defaults_set: "Erledigt. Wenn du keine Sprache angibst, übersetze ich in {languages}. Mit \
                   /lang off schaltest du das ab.",
    defaults_shown: "Wenn du keine Sprache angibst, übersetze ich in {languages}. Ändern mit \
                     /lang es fr, abschalten mit /lang off.",
    defaults_none: "Du hast keine Standardsprachen. Leg sie mit /lang es fr fest.",
    defaults_cleared: "Erledigt. Du hast jetzt keine Standardsprachen mehr; gib in jeder Anfrage \
                       eine Sprache an, z. B. /tr es good morning.",
    favorites_header: "Deine meistgenutzten Sprachen:",
    favorites_line: "{language}: {count}",
    favorites_defaults: "Deine Standardsprachen: {languages}.",
    favorites_empty: "Noch keine Favoriten: Sie entstehen, während du übersetzt, und hier \
                      erscheinen dann die Sprachen, die du am häufigsten nutzt.",
    history_header: "Deine letzten Übersetzungen:",
    history_line: "{when}  {languages}: „{text}“",
    history_empty: "Noch keine Übersetzungen gespeichert.",
    history_off_in_groups: "In Gruppenchats speichere ich keinen Übersetzungsverlauf. Schick \
                            mir /history in einem privaten Chat, um deinen zu sehen.",
    history_disabled: "Der Übersetzungsverlauf ist bei diesem Bot abgeschaltet.",
    forgotten: "Erledigt: Ich habe alles gelöscht, was ich über dich gespeichert hatte \
                ({items}: Einstellungen, Verlauf, Nutzungszähler).",
    quota_reached: "Du hast dein Tageslimit von {limit} erreicht. Es wird um Mitternacht (UTC) \
                    zurückgesetzt, also in {wait}. Bis dann!",

    translated_count: "{ok} von {total} übersetzt",
    failed_for: "{languages} fehlgeschlagen: {reason}",
    translation_failed: "Übersetzung fehlgeschlagen: {reason}",
    detected_source: "Ausgangssprache: {language} (erkannt)",
    given_source: "Ausgangssprache: {language}",
    demo_note: "(Satzsammlung der Offline-Demo, kein echter Übersetzungsdienst)",
    demo_explained: "ⓘ Das ist die Offline-Demo: Sie kennt nur eine Sammlung gängiger Sätze \
                     (probier \"good morning\" oder \"thank you\"). Um beliebige Texte zu \
                     übersetzen, richte einen Anbieter ein (siehe README).",

    reason_timeout: "der Anbieter hat zu lange gebraucht",
    reason_rate_limited: "der Anbieter ist ausgelastet (Ratenlimit)",
    reason_server_error: "Fehler beim Anbieter (HTTP {status})",
    reason_refused: "der Anbieter hat die Anfrage abgelehnt (HTTP {status})",
    reason_unreachable: "der Anbieter ist nicht erreichbar",
    reason_nonsense: "der Anbieter hat eine unbrauchbare Antwort geliefert",
    reason_circuit_open: "Anbieter nach wiederholten Fehlern vorübergehend abgeschaltet (neuer \
                          Versuch in {secs} s)",
    reason_unavailable: "Anbieter nicht verfügbar",
    reason_busy: "alle Anbieter sind ausgelastet, bitte versuch es in einer Minute noch einmal",
    reason_quota: "das heutige Übersetzungsbudget ist aufgebraucht, bitte versuch es morgen \
                   wieder",
};
