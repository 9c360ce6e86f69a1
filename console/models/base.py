from django.db import models, transaction

from console.ids import md5_id


class TimestampedModel(models.Model):
    create_time = models.DateTimeField(auto_now_add=True)
    update_time = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Md5IdModel(TimestampedModel):
    """A BinLake table whose primary key is md5 of some of its columns.

    `id_fields` names the inputs (attnames, so `group_id` not `group`). When an
    input changes, the row is re-keyed: a new row is written, children are
    pointed at it (re-keying them in turn), and the old row goes.
    """

    id = models.CharField(primary_key=True, max_length=32, editable=False)
    id_fields: tuple = ()

    class Meta:
        abstract = True

    def compute_id(self) -> str:
        return md5_id(*(getattr(self, name) for name in self.id_fields))

    def save(self, *args, **kwargs):
        new_id = self.compute_id()
        if self._state.adding or not self.id or self.id == new_id:
            self.id = new_id
            return super().save(*args, **kwargs)
        with transaction.atomic():
            old_id, self.id = self.id, new_id
            kwargs.pop("force_update", None)
            super().save(*args, **{**kwargs, "force_insert": True})
            # Hidden relations too (related_name="+"): audit rows and flow samples follow their object.
            for rel in self._meta.get_fields(include_hidden=True):
                if not (rel.auto_created and not rel.concrete and (rel.one_to_many or rel.one_to_one)):
                    continue
                children = rel.related_model._base_manager.filter(**{rel.field.attname: old_id})
                if issubclass(rel.related_model, Md5IdModel) and rel.field.attname in rel.related_model.id_fields:
                    for child in children:  # their own ids change too
                        setattr(child, rel.field.attname, new_id)
                        child.save()
                else:
                    children.update(**{rel.field.attname: new_id})
            type(self)._base_manager.filter(pk=old_id).delete()
