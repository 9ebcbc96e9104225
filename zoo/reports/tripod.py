"""The TRIPOD+AI checklist (Collins et al., BMJ 2024;385:e078378) and where the model card answers each item.

Items are the checklist's numbers and short topics. ``SECTION`` maps an item to the card section that
answers it; items a software report cannot answer (ethics approval, funding, patient involvement, ...)
say who must, so the appendix never implies an item is covered when it is not.
"""
from __future__ import annotations

ITEMS: list[tuple[str, str, str]] = [  # (item, section of the paper, topic)
    ("1", "Title", "Development or evaluation of a prediction model, target population, outcome"),
    ("2", "Abstract", "See TRIPOD+AI for Abstracts"),
    ("3a", "Background", "Healthcare context and rationale, existing models"),
    ("3b", "Background", "Target population, intended purpose in the care pathway, intended users"),
    ("3c", "Background", "Known health inequalities between sociodemographic groups"),
    ("4", "Objectives", "Study objectives: development, validation or both"),
    ("5a", "Data", "Sources of data for development and evaluation, representativeness"),
    ("5b", "Data", "Dates of data collection, accrual and end of follow-up"),
    ("6a", "Participants", "Study setting, number and location of centres"),
    ("6b", "Participants", "Eligibility criteria"),
    ("6c", "Participants", "Treatments received and how they were handled"),
    ("7", "Data preparation", "Pre-processing and quality checking"),
    ("8a", "Outcome", "Outcome definition, time horizon, how and when assessed"),
    ("8b", "Outcome", "Qualifications of outcome assessors when subjective"),
    ("8c", "Outcome", "Blinding of outcome assessment"),
    ("9a", "Predictors", "Choice of initial predictors and any pre-selection"),
    ("9b", "Predictors", "Definition of all predictors, how and when measured"),
    ("9c", "Predictors", "Qualifications of predictor assessors when subjective"),
    ("10", "Sample size", "How the study size was arrived at, and whether it suffices"),
    ("11", "Missing data", "How missing data were handled"),
    ("12a", "Analytical methods", "How the data were used: partitioning for development and evaluation"),
    ("12b", "Analytical methods", "Handling of predictors: functional form, rescaling, transformation"),
    ("12c", "Analytical methods", "Type of model, model-building steps, hyperparameter tuning, internal validation"),
    ("12d", "Analytical methods", "Heterogeneity across clusters (hospitals)"),
    ("12e", "Analytical methods", "Performance measures and plots, comparison of models"),
    ("12f", "Analytical methods", "Model updating (recalibration)"),
    ("12g", "Analytical methods", "How model predictions were calculated for evaluation"),
    ("13", "Class imbalance", "Class-imbalance methods and recalibration afterwards"),
    ("14", "Fairness", "Approaches to model fairness"),
    ("15", "Model output", "Output of the model, classification thresholds"),
    ("16", "Training versus evaluation", "Differences between development and evaluation data"),
    ("17", "Ethical approval", "Ethics committee and consent"),
    ("18a", "Open science", "Funding"),
    ("18b", "Open science", "Conflicts of interest"),
    ("18c", "Open science", "Protocol"),
    ("18d", "Open science", "Registration"),
    ("18e", "Open science", "Data availability"),
    ("18f", "Open science", "Code availability"),
    ("19", "Patient and public involvement", "Patient and public involvement"),
    ("20a", "Participants", "Flow of participants, with and without the outcome, follow-up"),
    ("20b", "Participants", "Characteristics overall and per data source, missing data"),
    ("20c", "Participants", "Evaluation data compared with development data"),
    ("21", "Model development", "Participants and events in each analysis"),
    ("22", "Model specification", "Full model (code, object, API) for predictions in new individuals"),
    ("23a", "Model performance", "Performance with CIs, including key subgroups"),
    ("23b", "Model performance", "Heterogeneity in performance across clusters"),
    ("24", "Model updating", "Results of any model updating"),
    ("25", "Interpretation", "Overall interpretation, including fairness"),
    ("26", "Limitations", "Limitations: sample, size, overfitting, missing data"),
    ("27a", "Usability", "How poor-quality or unavailable inputs should be handled"),
    ("27b", "Usability", "User interaction and expertise required"),
    ("27c", "Usability", "Next steps for research, applicability and generalisability"),
]

# card sections (their HTML ids) -> items they answer
SECTION: dict[str, tuple[str, ...]] = {
    "intended-use": ("1", "3a", "3b", "4", "15", "27b"),
    "data": ("5a", "5b", "6a", "6b", "6c", "20a", "20b"),
    "outcome": ("8a",),
    "predictors": ("7", "9a", "9b"),
    "missing-data": ("11", "27a"),
    "sample-size": ("10", "21"),
    "model-building": ("12a", "12b", "12c", "12g", "13"),
    "performance": ("12e", "23a"),
    "external": ("12d", "12f", "16", "20c", "23b", "24"),
    "subgroups": ("3c", "14", "23a"),
    "limitations": ("25", "26", "27c"),
    "specification": ("18f", "22"),
}
SECTION_TITLE = {
    "intended-use": "Intended use and users", "data": "Source of data", "outcome": "Outcome",
    "predictors": "Predictors", "missing-data": "Missing data", "sample-size": "Sample size",
    "model-building": "Model building", "performance": "Performance (internal hold-out test)",
    "external": "External validation", "subgroups": "Subgroups", "limitations": "Limitations",
    "specification": "Model specification",
}
FOR_AUTHORS = {  # items only the research team can answer
    "2": "the paper's abstract", "8b": "the study protocol (who assessed progression)",
    "8c": "the study protocol", "9c": "the study protocol (who read smears and gels)",
    "17": "the research team (ethics approval)", "18a": "the research team", "18b": "the research team",
    "18c": "the research team", "18d": "the research team", "18e": "the research team (data sharing)",
    "19": "the research team",
}


def items_for(section: str) -> str:
    """'TRIPOD+AI 3b, 15' for a section heading."""
    return "TRIPOD+AI " + ", ".join(SECTION[section])


def checklist() -> list[dict]:
    """Every item with where it is answered: card sections (links) or who must answer it."""
    where: dict[str, list[str]] = {}
    for sec, items in SECTION.items():
        for it in items:
            where.setdefault(it, []).append(sec)
    rows = []
    for item, part, topic in ITEMS:
        secs = where.get(item, [])
        rows.append({"item": item, "part": part, "topic": topic,
                     "sections": [{"id": s, "title": SECTION_TITLE[s]} for s in secs],
                     "elsewhere": None if secs else FOR_AUTHORS.get(item, "not applicable to this report")})
    return rows
