"""Built-in task kinds: registry name -> "module:Class" (imported only when used).

Named tasks are YAML specs in the project's ``tasks/`` folder; each names its ``kind`` here.
"""

BUILTIN: dict[str, str] = {
    "multiple_choice": "biasbench.tasks.multiple_choice:MultipleChoiceTask",
    "preference": "biasbench.tasks.preference:PreferenceTask",
    "transcription": "biasbench.tasks.transcription:TranscriptionTask",
    "mmlu": "biasbench.tasks.mmlu:MMLUTask",
    "bbq": "biasbench.tasks.bbq:BBQTask",
    "stereoset": "biasbench.tasks.stereoset:StereoSetTask",
    "dream_job": "biasbench.tasks.dream_job:DreamJobTask",
    "voice_only_ambiguous": "biasbench.tasks.voice_only:VoiceOnlyAmbiguousTask",
    "open_probes": "biasbench.tasks.open_ended:OpenEndedProbeTask",
    "discrim_eval": "biasbench.tasks.discrim_eval:DiscrimEvalTask",
    "perceived_attributes": "biasbench.tasks.perception:PerceivedAttributesTask",
}
