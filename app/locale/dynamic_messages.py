"""Messages that the code translates dynamically, so the extractor cannot see them.

Templates and controllers call `_(role.value)`, `_(story.status)`, `_(status.value)`,
`_(publication.status)`, `_(invitation.role)` and the like. Babel extracts only string literals,
so the values of those StrEnums are listed here to keep them in messages.pot (and thus in every
catalog after `pybabel update`). tests/i18n/test_catalogs.py checks that this list covers every
value of the enums below; add new values here when an enum grows.

Nothing imports this module: it only feeds `pybabel extract` (it matches `app/**.py`).
"""


def _(message: str) -> str:
    return message


DYNAMIC_MESSAGES = (
    # app.tenancy.models.Role
    _("viewer"),
    _("editor"),
    _("owner"),
    # app.stories.models.StoryStatus
    _("draft"),
    _("in_review"),
    _("changes_requested"),
    _("approved"),
    _("scheduled"),
    _("published"),
    _("rejected"),
    # app.sources.models.ItemStatus
    _("new"),
    _("generating"),
    _("drafted"),
    _("ignored"),
    # app.publishing.models.PublicationStatus ("scheduled" and "published" are listed above)
    _("publishing"),
    _("failed"),
    _("needs_attention"),
    _("canceled"),
)
