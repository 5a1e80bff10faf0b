"""R16: the book's publication wing — what the public reads, made from the book's tables.

- ``publisher``: renders every publication (feeds, honour rolls, certificates, the book's PDF,
  the press releases, the figures) reading only the entries each shows; stores them as
  artifacts keyed by URL path when entries arrive (``Publications``, the use cases' port) or
  when a request rendered one (``store_certificate``, ``keep_rendered``).
- ``feeds``, ``pages``, ``pdf``, ``book_pdf``: the formats; ``services.book.domain.publication``
  holds their pure rules (what an entry shows, archives, periods), checked framework-free.
- ``cache``: the one cache layer, in the web process, over the stored artifacts: a bounded LRU
  that every commit writing the book's publication tables empties in every process (through
  Redis), and that answers only while this process hears those invalidations.
- ``responses``: the whole answers of stored publications, kept in that same cache under the
  same rules, and answered in front of Flask.
- ``serving``: how a view answers with a publication: from that cache, else the database, else
  rendered now; conditional answers (ETag, 304) and the caching headers.

Nothing here decides a rule of the book: the use cases (``services.book.services``) do, and ask
``Publications`` to bring what is published up to date in their transaction.
"""
