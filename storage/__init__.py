"""Where objects live: storage keys, object writes, signed URLs, and the local stand-in for S3."""
