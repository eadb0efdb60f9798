"""Imports every model so that metadata (Alembic, relationships by name) sees them all."""

from app.audit.models import AuditEvent
from app.auth.models import User
from app.generation.models import CreditCharge, Job, StylePreset
from app.providers.models import AiModel, AiProvider
from app.publishing.models import Channel, Publication
from app.sharing.models import Comment, ShareLink
from app.smartedit.models import SmartEditSettings
from app.sources.models import Source, SourceItem
from app.stories.models import Asset, Scene, Story, StoryVersion
from app.tenancy.models import Client, Invitation, Membership

__all__ = [
    "AiModel",
    "AiProvider",
    "Asset",
    "AuditEvent",
    "Channel",
    "Client",
    "Comment",
    "CreditCharge",
    "Invitation",
    "Job",
    "Membership",
    "Publication",
    "Scene",
    "ShareLink",
    "SmartEditSettings",
    "Source",
    "SourceItem",
    "Story",
    "StoryVersion",
    "StylePreset",
    "User",
]
