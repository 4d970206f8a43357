"""Built-in report sheets: name -> "module:function" taking a RunData and returning a Sheet (or None).

Other areas add sheets without editing this file: an entry point in the group ``biasbench.report_sheets``
(``Debias = "biasbench.debias.report:debias_sheet"``), :func:`biasbench.reports.register_sheet` at run
time, or ``write_run_report(run_dir, extra_sheets=[...])``. Sheet order comes from ``Sheet.order``.
"""

BUILTIN = {
    "Summary": "biasbench.reports.run_sheets:summary_sheet",
    "Warnings": "biasbench.reports.run_sheets:warnings_sheet",
    "ByGroup": "biasbench.reports.run_sheets:by_group_sheet",
    "ByCell": "biasbench.reports.run_sheets:by_cell_sheet",
    "ByVoice": "biasbench.reports.run_sheets:by_voice_sheet",
    "Gaps": "biasbench.reports.run_sheets:gaps_sheet",
    "Ratios": "biasbench.reports.run_sheets:ratios_sheet",
    "Flips": "biasbench.reports.run_sheets:flips_sheet",
    "Tests": "biasbench.reports.run_sheets:tests_sheet",
    "TextControl": "biasbench.reports.run_sheets:text_control_sheet",
    "Decomposition": "biasbench.reports.decomposition:decomposition_sheet",
    "Equivalence": "biasbench.reports.run_sheets:equivalence_sheet",
    "Power": "biasbench.reports.run_sheets:power_sheet",
    "PositionBias": "biasbench.reports.run_sheets:position_bias_sheet",
    "PerSubject": "biasbench.reports.run_sheets:per_subject_sheet",
    "Stereotype": "biasbench.reports.run_sheets:stereotype_sheet",
    "VoiceAudit": "biasbench.reports.run_sheets:voice_audit_sheet",
    "VoiceAuditCells": "biasbench.reports.run_sheets:voice_audit_cells_sheet",
    "Exclusions": "biasbench.reports.run_sheets:exclusions_sheet",
    "Manifest": "biasbench.reports.run_sheets:manifest_sheet",
    "Scoring": "biasbench.reports.run_sheets:scoring_sheet",
}
