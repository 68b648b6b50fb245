"""Everything that talks to the world, behind small typed interfaces.

* :mod:`.aws`: the one AWS session and client factory, and botocore error codes;
* :mod:`.voiceid`: the Voice ID API (rate-limited, retried, counted, errors translated);
* :mod:`.objects`: S3 objects: external manifests, staged rosters, job output files;
* :mod:`.stores`: the state stores (:mod:`.localstore`, :mod:`.s3store`) behind one protocol;
* :mod:`.metrics`: the Prometheus textfile and Pushgateway.

Only this package of the product imports the AWS SDK, and only botocore (boto3 is not
imported: :mod:`.aws` makes botocore's session, which boto3's wraps); the sandbox, apart, has its
own. Every error it lets out is a :class:`~reconciler.core.errors.ReconcilerError`.
"""
