from django.contrib import admin

from accounts.models import ApiKey, MonthlyUsage, User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ("email", "tier", "date_joined", "is_staff")
    search_fields = ("email",)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("prefix", "name", "user", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "key_hash")


admin.site.register(MonthlyUsage)
