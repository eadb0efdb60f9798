"""Imports every model so that metadata (Alembic, relationships by name) sees them all."""

from app.auth.models import User
from app.generation.models import Job
from app.publishing.models import Channel, Publication
from app.sources.models import Source, SourceItem
from app.stories.models import Asset, Story, StoryVersion
from app.tenancy.models import Client, Invitation, Membership

__all__ = [
    "Asset",
    "Channel",
    "Client",
    "Invitation",
    "Job",
    "Membership",
    "Publication",
    "Source",
    "SourceItem",
    "Story",
    "StoryVersion",
    "User",
]
