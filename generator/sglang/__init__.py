"""SGLang: what the pinned version accepts (its flag manifests), what it chooses by itself (its
own defaults), the flag set a deployment launches it with, one per GPU type, and its caches."""
